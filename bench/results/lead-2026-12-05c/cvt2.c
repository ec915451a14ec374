// The GQA-4 periodic score loop's FMA shape from L1 (4 keys x 4 query rows, f16 keys
// widened by vcvtph2ps, D 128): A alone runs at the FMA peak (3.66 of 3.67 G FMA/s)
// once the head-dimension steps are unrolled; B is the value loop's broadcast shape.
// gcc -O3 -march=x86-64-v4 cvt2.c && chrt -f 10 ./a.out   (lead, 2026-12-05)
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
#define KEYS 64
#define D 128
__attribute__((aligned(64))) uint16_t kh[KEYS*D];
__attribute__((aligned(64))) float q[4*D];
// A: q loaded per chunk (as in the kernel)
__attribute__((noinline)) __m512 runA(int reps){
  __m512 acc[16]; for(int i=0;i<16;i++)acc[i]=_mm512_setzero_ps();
  for(int r=0;r<reps;r++)
   for(int k=0;k<KEYS;k+=4)
    _Pragma("GCC unroll 8") for(int c=0;c<D;c+=16){
      __m512 qv0=_mm512_load_ps(q+c),qv1=_mm512_load_ps(q+D+c),qv2=_mm512_load_ps(q+2*D+c),qv3=_mm512_load_ps(q+3*D+c);
      _Pragma("GCC unroll 4") for(int j=0;j<4;j++){
        __m512 kv=_mm512_cvtph_ps(_mm256_load_si256((__m256i*)(kh+(k+j)*D+c)));
        acc[j*4+0]=_mm512_fmadd_ps(kv,qv0,acc[j*4+0]);acc[j*4+1]=_mm512_fmadd_ps(kv,qv1,acc[j*4+1]);
        acc[j*4+2]=_mm512_fmadd_ps(kv,qv2,acc[j*4+2]);acc[j*4+3]=_mm512_fmadd_ps(kv,qv3,acc[j*4+3]);}
    }
  __m512 s=acc[0];for(int i=1;i<16;i++)s=_mm512_add_ps(s,acc[i]);return s;}
// B: broadcast form like the value loop: 4 rows x 4 chunks acc, 1 cvt per chunk, 4 scalar broadcasts per key
__attribute__((noinline)) __m512 runB(int reps){
  __m512 acc[16]; for(int i=0;i<16;i++)acc[i]=_mm512_setzero_ps();
  for(int r=0;r<reps;r++)
   _Pragma("GCC unroll 2") for(int k=0;k<KEYS;k++){
      __m512 p0=_mm512_set1_ps(q[k]),p1=_mm512_set1_ps(q[D+k]),p2=_mm512_set1_ps(q[2*D+k]),p3=_mm512_set1_ps(q[3*D+k]);
      _Pragma("GCC unroll 4") for(int c=0;c<4;c++){
        __m512 kv=_mm512_cvtph_ps(_mm256_load_si256((__m256i*)(kh+k*D+c*16)));
        acc[c*4+0]=_mm512_fmadd_ps(kv,p0,acc[c*4+0]);acc[c*4+1]=_mm512_fmadd_ps(kv,p1,acc[c*4+1]);
        acc[c*4+2]=_mm512_fmadd_ps(kv,p2,acc[c*4+2]);acc[c*4+3]=_mm512_fmadd_ps(kv,p3,acc[c*4+3]);}
    }
  __m512 s=acc[0];for(int i=1;i<16;i++)s=_mm512_add_ps(s,acc[i]);return s;}
// C: like A but accumulators restart per key block (zero) and are summed into a result (fold stand-in)
__attribute__((noinline)) __m512 runC(int reps){
  __m512 tot=_mm512_setzero_ps();
  for(int r=0;r<reps;r++)
   for(int k=0;k<KEYS;k+=4){
    __m512 acc[16]; for(int i=0;i<16;i++)acc[i]=_mm512_setzero_ps();
    _Pragma("GCC unroll 8") for(int c=0;c<D;c+=16){
      __m512 qv0=_mm512_load_ps(q+c),qv1=_mm512_load_ps(q+D+c),qv2=_mm512_load_ps(q+2*D+c),qv3=_mm512_load_ps(q+3*D+c);
      _Pragma("GCC unroll 4") for(int j=0;j<4;j++){
        __m512 kv=_mm512_cvtph_ps(_mm256_load_si256((__m256i*)(kh+(k+j)*D+c)));
        acc[j*4+0]=_mm512_fmadd_ps(kv,qv0,acc[j*4+0]);acc[j*4+1]=_mm512_fmadd_ps(kv,qv1,acc[j*4+1]);
        acc[j*4+2]=_mm512_fmadd_ps(kv,qv2,acc[j*4+2]);acc[j*4+3]=_mm512_fmadd_ps(kv,qv3,acc[j*4+3]);}
    }
    for(int i=0;i<16;i++)tot=_mm512_add_ps(tot,acc[i]);
   }
  return tot;}
int main(){
  for(int i=0;i<KEYS*D;i++){kh[i]=0x3c00;} for(int i=0;i<4*D;i++)q[i]=1e-9f;
  int reps=200000; double fma=(double)reps*KEYS*D/16*4;
  for(int t=0;t<3;t++){
  double t0=now(); __m512 a=runA(reps); double t1=now(); __m512 b=runB(reps); double t2=now(); __m512 c=runC(reps); double t3=now();
  printf("A %.2f  B %.2f  C %.2f G FMA/s (peak ~3.67)  (%g)\n",fma/(t1-t0)/1e9,fma/(t2-t1)/1e9,fma/(t3-t2)/1e9,a[0]+b[0]+c[0]);}
}
