#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double cpu(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
float K[36*128] __attribute__((aligned(64))); float Q[128*32] __attribute__((aligned(64)));
unsigned short Kb[36*128] __attribute__((aligned(64)));
#define R 12
__attribute__((noinline)) float kern(int reps){
  __m512 acc[2*R]; for(int i=0;i<2*R;i++)acc[i]=_mm512_setzero_ps();
  for(int r=0;r<reps;r++) for(int d=0;d<128;d++){
    __m512 q0=_mm512_load_ps(Q+d*32),q1=_mm512_load_ps(Q+d*32+16);
    #pragma GCC unroll 12
    for(int k=0;k<R;k++){ __m512 kv=_mm512_set1_ps(K[k*128+d]); acc[2*k]=_mm512_fmadd_ps(kv,q0,acc[2*k]); acc[2*k+1]=_mm512_fmadd_ps(kv,q1,acc[2*k+1]);}
  }
  __m512 s=acc[0]; for(int i=1;i<2*R;i++)s=_mm512_add_ps(s,acc[i]); return _mm512_reduce_add_ps(s);}
/* bf16 keys: one 32-bit broadcast gives 2 elements via shift / and */
__attribute__((noinline)) float kernbf(int reps){
  __m512 acc[2*R]; for(int i=0;i<2*R;i++)acc[i]=_mm512_setzero_ps();
  const __m512i mask=_mm512_set1_epi32(0xffff0000);
  for(int r=0;r<reps;r++) for(int d=0;d<128;d+=2){
    __m512 q0=_mm512_load_ps(Q+d*32),q1=_mm512_load_ps(Q+d*32+16);
    __m512 q2=_mm512_load_ps(Q+d*32+32),q3=_mm512_load_ps(Q+d*32+48);
    #pragma GCC unroll 12
    for(int k=0;k<R;k++){ __m512i w=_mm512_set1_epi32(*(int*)(Kb+k*128+d));
      __m512 ke=_mm512_castsi512_ps(_mm512_slli_epi32(w,16)), ko=_mm512_castsi512_ps(_mm512_and_si512(w,mask));
      acc[2*k]=_mm512_fmadd_ps(ke,q0,acc[2*k]); acc[2*k+1]=_mm512_fmadd_ps(ke,q1,acc[2*k+1]);
      acc[2*k]=_mm512_fmadd_ps(ko,q2,acc[2*k]); acc[2*k+1]=_mm512_fmadd_ps(ko,q3,acc[2*k+1]);}
  }
  __m512 s=acc[0]; for(int i=1;i<2*R;i++)s=_mm512_add_ps(s,acc[i]); return _mm512_reduce_add_ps(s);}
/* vdpbf16ps with a hi/lo split query: word broadcast of the key pair */
__attribute__((noinline)) float kerndp(int reps){
  __m512 acc[2*R]; for(int i=0;i<2*R;i++)acc[i]=_mm512_setzero_ps();
  for(int r=0;r<reps;r++) for(int d=0;d<128;d+=2){
    __m512bh qh0=(__m512bh)_mm512_load_si512(Q+d*32),qh1=(__m512bh)_mm512_load_si512(Q+d*32+16);
    __m512bh ql0=(__m512bh)_mm512_load_si512(Q+d*32+32),ql1=(__m512bh)_mm512_load_si512(Q+d*32+48);
    #pragma GCC unroll 12
    for(int k=0;k<R;k++){ __m512bh w=(__m512bh)_mm512_set1_epi32(*(int*)(Kb+k*128+d));
      acc[2*k]=_mm512_dpbf16_ps(acc[2*k],w,qh0); acc[2*k+1]=_mm512_dpbf16_ps(acc[2*k+1],w,qh1);
      acc[2*k]=_mm512_dpbf16_ps(acc[2*k],w,ql0); acc[2*k+1]=_mm512_dpbf16_ps(acc[2*k+1],w,ql1);}
  }
  __m512 s=acc[0]; for(int i=1;i<2*R;i++)s=_mm512_add_ps(s,acc[i]); return _mm512_reduce_add_ps(s);}

__attribute__((noinline)) float kernh(int reps){
  __m512 acc[2*R]; for(int i=0;i<2*R;i++)acc[i]=_mm512_setzero_ps();
  for(int r=0;r<reps;r++) for(int d=0;d<128;d++){
    __m512 q0=_mm512_load_ps(Q+d*32),q1=_mm512_load_ps(Q+d*32+16);
    #pragma GCC unroll 12
    for(int k=0;k<R;k++){ __m512 kv=_mm512_cvtph_ps(_mm256_set1_epi16(*(short*)(Kb+k*128+d))); acc[2*k]=_mm512_fmadd_ps(kv,q0,acc[2*k]); acc[2*k+1]=_mm512_fmadd_ps(kv,q1,acc[2*k+1]);}
  }
  __m512 s=acc[0]; for(int i=1;i<2*R;i++)s=_mm512_add_ps(s,acc[i]); return _mm512_reduce_add_ps(s);}
/* f16 pair: word broadcast, cvtph2ps of 16 halves of which even = elem d, odd = d+1 : then two permutes? use vcvtph2ps on xmm broadcast of word -> zmm, then vshufps? */
__attribute__((noinline)) float kernh2(int reps){
  __m512 acc[2*R]; for(int i=0;i<2*R;i++)acc[i]=_mm512_setzero_ps();
  for(int r=0;r<reps;r++) for(int d=0;d<128;d+=2){
    __m512 q0=_mm512_load_ps(Q+d*32),q1=_mm512_load_ps(Q+d*32+16);
    __m512 q2=_mm512_load_ps(Q+d*32+32),q3=_mm512_load_ps(Q+d*32+48);
    #pragma GCC unroll 12
    for(int k=0;k<R;k++){ __m512 both=_mm512_cvtph_ps(_mm256_set1_epi32(*(int*)(Kb+k*128+d)));
      __m512 ke=_mm512_shuffle_ps(both,both,0x00), ko=_mm512_shuffle_ps(both,both,0x55);
      acc[2*k]=_mm512_fmadd_ps(ke,q0,acc[2*k]); acc[2*k+1]=_mm512_fmadd_ps(ke,q1,acc[2*k+1]);
      acc[2*k]=_mm512_fmadd_ps(ko,q2,acc[2*k]); acc[2*k+1]=_mm512_fmadd_ps(ko,q3,acc[2*k+1]);}
  }
  __m512 s=acc[0]; for(int i=1;i<2*R;i++)s=_mm512_add_ps(s,acc[i]); return _mm512_reduce_add_ps(s);}
__attribute__((noinline)) float fmaonly(int reps){
  __m512 acc[2*R]; for(int i=0;i<2*R;i++)acc[i]=_mm512_setzero_ps(); __m512 x=_mm512_set1_ps(0.5f),y=_mm512_set1_ps(1e-6f);
  for(int r=0;r<reps;r++) for(int d=0;d<128;d++){
    #pragma GCC unroll 24
    for(int k=0;k<2*R;k++) acc[k]=_mm512_fmadd_ps(acc[k],x,y);}
  __m512 s=acc[0]; for(int i=1;i<2*R;i++)s=_mm512_add_ps(s,acc[i]); return _mm512_reduce_add_ps(s);}
int main(){ for(int i=0;i<36*128;i++){K[i]=0.001f*i;Kb[i]=0x3f80;} for(int i=0;i<128*32;i++)Q[i]=1e-3f;
  int reps=200000; float s=0;
  for(int t=0;t<3;t++){
  double c=cpu(); s+=fmaonly(reps); c=cpu()-c; printf("fma only   %.1f GFLOP/s\n",2.0*16*24*128*reps/c/1e9);
  c=cpu(); s+=kern(reps); c=cpu()-c; printf("f32 12x2   %.1f GFLOP/s\n",2.0*16*24*128*reps/c/1e9);
  c=cpu(); s+=kernbf(reps); c=cpu()-c; printf("bf16 shift %.1f GFLOP/s\n",2.0*16*24*128*reps/c/1e9);
  c=cpu(); s+=kernh(reps); c=cpu()-c; printf("f16 bcast+cvt %.1f GFLOP/s\n",2.0*16*24*128*reps/c/1e9);
  c=cpu(); s+=kernh2(reps); c=cpu()-c; printf("f16 pair cvt+2shuf %.1f GFLOP/s\n",2.0*16*24*128*reps/c/1e9);
  c=cpu(); s+=kerndp(reps); c=cpu()-c; printf("dpbf16 hl  %.1f GFLOP/s (useful, 2 dp per MAC pair)\n",2.0*16*24*128*reps/c/1e9);}
  printf("%g\n",s);}
