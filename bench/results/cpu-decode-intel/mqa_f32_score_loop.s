	movabsq	$-6148914691236517205, %r9      # imm = 0xAAAAAAAAAAAAAAAB
	mulxq	%r9, %r9, %r9
	shrq	$8, %r9
	movq	%r9, %r10
	shlq	$7, %r10
	leaq	(%r10,%r10,2), %r10
	movq	%rdx, %r11
	subq	%r10, %r11
	cmpq	$288, %r11                      # imm = 0x120
	vmovups	(%rbx,%rdi,4), %zmm24
	vmovups	64(%rbx,%rdi,4), %zmm25
	vbroadcastss	(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm23  # zmm23 = (zmm26 * zmm24) + zmm23
	vfmadd231ps	%zmm26, %zmm25, %zmm22  # zmm22 = (zmm25 * zmm26) + zmm22
	vbroadcastss	512(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm21  # zmm21 = (zmm26 * zmm24) + zmm21
	vfmadd231ps	%zmm26, %zmm25, %zmm20  # zmm20 = (zmm25 * zmm26) + zmm20
	vbroadcastss	1024(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm19  # zmm19 = (zmm26 * zmm24) + zmm19
	vfmadd231ps	%zmm26, %zmm25, %zmm18  # zmm18 = (zmm25 * zmm26) + zmm18
	vbroadcastss	1536(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm17  # zmm17 = (zmm26 * zmm24) + zmm17
	vfmadd231ps	%zmm26, %zmm25, %zmm16  # zmm16 = (zmm25 * zmm26) + zmm16
	vbroadcastss	2048(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm15  # zmm15 = (zmm26 * zmm24) + zmm15
	vfmadd231ps	%zmm26, %zmm25, %zmm14  # zmm14 = (zmm25 * zmm26) + zmm14
	vbroadcastss	2560(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm13  # zmm13 = (zmm26 * zmm24) + zmm13
	vfmadd231ps	%zmm26, %zmm25, %zmm12  # zmm12 = (zmm25 * zmm26) + zmm12
	vbroadcastss	3072(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm11  # zmm11 = (zmm26 * zmm24) + zmm11
	vfmadd231ps	%zmm26, %zmm25, %zmm10  # zmm10 = (zmm25 * zmm26) + zmm10
	vbroadcastss	3584(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm9   # zmm9 = (zmm26 * zmm24) + zmm9
	vfmadd231ps	%zmm26, %zmm25, %zmm8   # zmm8 = (zmm25 * zmm26) + zmm8
	vbroadcastss	4096(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm7   # zmm7 = (zmm26 * zmm24) + zmm7
	vfmadd231ps	%zmm26, %zmm25, %zmm6   # zmm6 = (zmm25 * zmm26) + zmm6
	vbroadcastss	4608(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm5   # zmm5 = (zmm26 * zmm24) + zmm5
	vfmadd231ps	%zmm26, %zmm25, %zmm4   # zmm4 = (zmm25 * zmm26) + zmm4
	vbroadcastss	5120(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm3   # zmm3 = (zmm26 * zmm24) + zmm3
	vfmadd231ps	%zmm26, %zmm25, %zmm2   # zmm2 = (zmm25 * zmm26) + zmm2
	vbroadcastss	5632(%rsi,%r8,4), %zmm26
	vfmadd231ps	%zmm24, %zmm26, %zmm1   # zmm1 = (zmm26 * zmm24) + zmm1
	vfmadd231ps	%zmm25, %zmm26, %zmm0   # zmm0 = (zmm26 * zmm25) + zmm0
	incq	%r8
	addq	$32, %rdi
	addq	$288, %rdx                      # imm = 0x120
	cmpq	$4096, %rdi                     # imm = 0x1000
