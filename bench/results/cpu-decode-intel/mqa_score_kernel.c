// C model of the MQA (G 32) score micro-kernel of GroupedDecodeKernel.cpp
// (rows across the lanes): per head-dimension step 2 row vectors of Q^T,
// 12 broadcast key elements, 2 x 12 accumulators, on L1-resident tiles
// (Q^T [128][32], a key tile [36][128]). Prints 512-bit FMAs per ns (G/s)
// for a register-only FMA peak, the kernel's shape (v0), d unrolled by 4
// (v2), the keys as embedded-broadcast memory operands (v3) and v0 with
// the kernel's spread-prefetch slot per step (v4). Branch
// cpu-decode-intel; see bench/RESULTS.md.
//   clang -O2 -march=emeraldrapids mqa_score_kernel.c -o m && chrt -f 10 ./m
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec+1e-9*t.tv_nsec;}
#define D 128
#define TK 36
float qt[D][32] __attribute__((aligned(64)));
float kt[TK][D] __attribute__((aligned(64)));
float S[TK][32] __attribute__((aligned(64)));
// V0: per d: 2 q loads, 12 broadcast keys (register), 24 FMAs
__attribute__((noinline)) void v0(void){
  for(int k0=0;k0<TK;k0+=12){
    __m512 a[12][2];
    for(int k=0;k<12;k++){a[k][0]=_mm512_setzero_ps();a[k][1]=_mm512_setzero_ps();}
    for(int d=0;d<D;d++){
      __m512 q0=_mm512_load_ps(&qt[d][0]),q1=_mm512_load_ps(&qt[d][16]);
      #pragma unroll
      for(int k=0;k<12;k++){__m512 b=_mm512_set1_ps(kt[k0+k][d]);a[k][0]=_mm512_fmadd_ps(b,q0,a[k][0]);a[k][1]=_mm512_fmadd_ps(b,q1,a[k][1]);}
    }
    for(int k=0;k<12;k++){_mm512_store_ps(&S[k0+k][0],a[k][0]);_mm512_store_ps(&S[k0+k][16],a[k][1]);}
  }
}
// V2: unroll d by 4 (fewer loop overheads)
__attribute__((noinline)) void v2(void){
  for(int k0=0;k0<TK;k0+=12){
    __m512 a[12][2];
    for(int k=0;k<12;k++){a[k][0]=_mm512_setzero_ps();a[k][1]=_mm512_setzero_ps();}
    for(int d=0;d<D;d+=4){
      #pragma unroll
      for(int dd=0;dd<4;dd++){
      __m512 q0=_mm512_load_ps(&qt[d+dd][0]),q1=_mm512_load_ps(&qt[d+dd][16]);
      #pragma unroll
      for(int k=0;k<12;k++){__m512 b=_mm512_set1_ps(kt[k0+k][d+dd]);a[k][0]=_mm512_fmadd_ps(b,q0,a[k][0]);a[k][1]=_mm512_fmadd_ps(b,q1,a[k][1]);}
      }
    }
    for(int k=0;k<12;k++){_mm512_store_ps(&S[k0+k][0],a[k][0]);_mm512_store_ps(&S[k0+k][16],a[k][1]);}
  }
}
// V3: per d: 2 q loads in regs, 12 keys via embedded broadcast (asm)
__attribute__((noinline)) void v3(void){
  for(int k0=0;k0<TK;k0+=12){
    __m512 a[12][2];
    for(int k=0;k<12;k++){a[k][0]=_mm512_setzero_ps();a[k][1]=_mm512_setzero_ps();}
    for(int d=0;d<D;d++){
      __m512 q0=_mm512_load_ps(&qt[d][0]),q1=_mm512_load_ps(&qt[d][16]);
      #pragma unroll
      for(int k=0;k<12;k++){const float*p=&kt[k0+k][d];
        __asm__("vfmadd231ps %2%{1to16%}, %3, %0\n\tvfmadd231ps %2%{1to16%}, %4, %1":"+v"(a[k][0]),"+v"(a[k][1]):"m"(*p),"v"(q0),"v"(q1));}
    }
    for(int k=0;k<12;k++){_mm512_store_ps(&S[k0+k][0],a[k][0]);_mm512_store_ps(&S[k0+k][16],a[k][1]);}
  }
}
// peak: 24 register FMAs chains
__attribute__((noinline)) void pk(long n){
  __m512 a[24];for(int i=0;i<24;i++)a[i]=_mm512_set1_ps(i);
  __m512 x=_mm512_set1_ps(1.0001f),y=_mm512_set1_ps(0.9999f);
  for(long i=0;i<n;i++){
    #pragma unroll
    for(int j=0;j<24;j++)a[j]=_mm512_fmadd_ps(a[j],x,y);
  }
  float s=0;for(int i=0;i<24;i++)s+=a[i][0];if(s==1234.5f)printf("x");
}

float big[1<<22];
long spanFirst=0, spanLast=(1<<22)-1;
__attribute__((noinline)) void v4(void){
  long slots=3*128, lines=144;
  for(int k0=0;k0<TK;k0+=12){
    __m512 a[12][2];
    for(int k=0;k<12;k++){a[k][0]=_mm512_setzero_ps();a[k][1]=_mm512_setzero_ps();}
    long slot0=(k0/12)*128;
    for(int d=0;d<D;d++){
      long u=slot0+d, x=u*lines;
      if (x%slots<lines){ long at=spanFirst+(x/slots)*32; if(at>spanLast)at=spanLast; _mm_prefetch((const char*)&big[at],_MM_HINT_T1);}
      __m512 q0=_mm512_load_ps(&qt[d][0]),q1=_mm512_load_ps(&qt[d][16]);
      #pragma unroll
      for(int k=0;k<12;k++){__m512 b=_mm512_set1_ps(kt[k0+k][d]);a[k][0]=_mm512_fmadd_ps(b,q0,a[k][0]);a[k][1]=_mm512_fmadd_ps(b,q1,a[k][1]);}
    }
    for(int k=0;k<12;k++){_mm512_store_ps(&S[k0+k][0],a[k][0]);_mm512_store_ps(&S[k0+k][16],a[k][1]);}
    spanFirst=(spanFirst+4608)&((1<<21)-1);
  }
}
int main(){
  for(int d=0;d<D;d++)for(int r=0;r<32;r++)qt[d][r]=0.01f*(d+r);
  for(int k=0;k<TK;k++)for(int d=0;d<D;d++)kt[k][d]=0.001f*(k-d);
  long n=20000000; double t=now();pk(n);t=now()-t; printf("peak %.2f GFMA/s\n",24.0*n/t/1e9);
  struct{const char*n;void(*f)(void);}v[]={{"v0",v0},{"v2 d-unroll4",v2},{"v3 embedded bcast",v3},{"v4 v0+spread prefetch",v4}};
  for(int r=0;r<2;r++)for(int i=0;i<4;i++){int reps=100000;double t=now();for(int j=0;j<reps;j++){v[i].f();__asm__ volatile("":::"memory");}t=now()-t;printf("%s %.2f GFMA/s\n",v[i].n,(double)TK*D*2*reps/t/1e9);}
}
