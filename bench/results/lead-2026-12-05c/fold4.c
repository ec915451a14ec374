// The GQA-4 periodic score block of the grouped decode kernel from L1/L2 (4 keys x 4
// query rows of 16-lane sums over D 128), on the Zen 4 VM (lead, 2026-12-05):
// - f16 no fold: the block's FMAs and vcvtph2ps alone, 3.66 of 3.67 G FMA/s;
// - f16 fold16: with the fold of the 16 sums into one vector of scores (30 shuffles,
//   15 adds): 2.9 (79%); f32 keys fold16: 3.4-3.5 (92-96%): the widening and the
//   fold's shuffles compete with the FMAs;
// - two-rows: two query rows per vector (key halves duplicated by a broadcast load),
//   14 fold shuffles per 16 scores but twice the vcvtph2ps: f16 2.8, f32 3.33 (2.3-2.4
//   in another build of this file with the same instructions at other addresses:
//   that variant moves with code placement).
//   gcc -O3 -march=x86-64-v4 fold4.c && chrt -f 10 ./a.out
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
#define KEYS 128
#define D 128
__attribute__((aligned(64))) uint16_t kh[KEYS*D];
__attribute__((aligned(64))) float q[4*D];
__attribute__((aligned(64))) float kf[KEYS*D];
__attribute__((aligned(64))) float q2[4*D]; // [pair p][d-group of 8][row h][8]
__attribute__((aligned(64))) float scores[KEYS*4];
#define SH(a,b,i) _mm512_shuffle_ps(a,b,i)
static inline __m512 lvl1(__m512 a, __m512 b){ return _mm512_add_ps(SH(a,b,0x88),SH(a,b,0xdd)); }
static inline __m512 lvl3(__m512 a, __m512 b){ return _mm512_add_ps(_mm512_shuffle_f32x4(a,b,0x88),_mm512_shuffle_f32x4(a,b,0xdd)); }
static inline __m512 fold16(__m512 *s){
  __m512 a[8],b[4],c[2];
  for(int i=0;i<8;i++)a[i]=lvl1(s[2*i],s[2*i+1]);
  for(int i=0;i<4;i++)b[i]=lvl1(a[2*i],a[2*i+1]);
  for(int i=0;i<2;i++)c[i]=lvl3(b[2*i],b[2*i+1]);
  return lvl3(c[0],c[1]);}
static inline __m512 fold8(__m512 *s){
  __m512 a[4],b[2];
  for(int i=0;i<4;i++)a[i]=lvl1(s[2*i],s[2*i+1]);
  for(int i=0;i<2;i++)b[i]=lvl1(a[2*i],a[2*i+1]);
  return lvl3(b[0],b[1]);}
// The same block with no fold: the sums stay in registers across blocks (cvt2.c's A).
__attribute__((noinline)) void runA(int reps){
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
  __m512 t=acc[0];for(int i=1;i<16;i++)t=_mm512_add_ps(t,acc[i]);_mm512_store_ps(scores,t);}
// One noinline function per key load: each compiles with its key type fixed.
#define BLOCK4X4(NAME, KEY)                                                        \
  __attribute__((noinline)) void NAME(int reps){                                   \
    for(int r=0;r<reps;r++)                                                        \
     for(int k=0;k<KEYS;k+=4){ __m512 acc[16];                                     \
      for(int i=0;i<16;i++)acc[i]=_mm512_setzero_ps();                             \
      _Pragma("GCC unroll 8") for(int c=0;c<D;c+=16){                              \
        __m512 qv0=_mm512_load_ps(q+c),qv1=_mm512_load_ps(q+D+c),                  \
               qv2=_mm512_load_ps(q+2*D+c),qv3=_mm512_load_ps(q+3*D+c);            \
        _Pragma("GCC unroll 4") for(int j=0;j<4;j++){                              \
          __m512 kv=KEY;                                                           \
          acc[j*4+0]=_mm512_fmadd_ps(kv,qv0,acc[j*4+0]);                           \
          acc[j*4+1]=_mm512_fmadd_ps(kv,qv1,acc[j*4+1]);                           \
          acc[j*4+2]=_mm512_fmadd_ps(kv,qv2,acc[j*4+2]);                           \
          acc[j*4+3]=_mm512_fmadd_ps(kv,qv3,acc[j*4+3]);}                          \
      }                                                                            \
      _mm512_store_ps(scores+k*4, fold16(acc)); }}
BLOCK4X4(runF, _mm512_cvtph_ps(_mm256_load_si256((__m256i*)(kh+(k+j)*D+c))))
BLOCK4X4(runB, _mm512_load_ps(kf+(k+j)*D+c))
// Two rows per vector: the key halves duplicated by a broadcast load.
#define TWOROWS(NAME, KEY)                                                         \
  __attribute__((noinline)) void NAME(int reps){                                   \
    for(int r=0;r<reps;r++)                                                        \
     for(int k=0;k<KEYS;k+=4){ __m512 acc[8];                                      \
      for(int i=0;i<8;i++)acc[i]=_mm512_setzero_ps();                              \
      _Pragma("GCC unroll 16") for(int c=0;c<D;c+=8){                              \
        __m512 qa=_mm512_load_ps(q2+c*2),qb=_mm512_load_ps(q2+2*D+c*2);            \
        _Pragma("GCC unroll 4") for(int j=0;j<4;j++){                              \
          __m512 kv=KEY;                                                           \
          acc[j*2+0]=_mm512_fmadd_ps(kv,qa,acc[j*2+0]);                            \
          acc[j*2+1]=_mm512_fmadd_ps(kv,qb,acc[j*2+1]);}                           \
      }                                                                            \
      _mm512_store_ps(scores+k*4, fold8(acc)); }}
TWOROWS(runV2, _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm_load_si128((__m128i*)(kh+(k+j)*D+c)))))
TWOROWS(runV2f, _mm512_broadcast_f32x8(_mm256_load_ps(kf+(k+j)*D+c)))
int main(){
  for(int i=0;i<KEYS*D;i++){kh[i]=0x3c00;kf[i]=1;} for(int i=0;i<4*D;i++)q[i]=q2[i]=1e-9f;
  int reps=100000; double fma=(double)reps*KEYS*D/16*4;
  for(int t=0;t<3;t++){
  double t0=now(); runA(reps); double t1=now(); runF(reps); double t2=now(); runB(reps);
  double t3=now(); runV2(reps); double t4=now(); runV2f(reps); double t5=now();
  printf("G FMA/s (peak ~3.67): f16 no fold %.2f  f16 fold16 %.2f  f32 keys fold16 %.2f  two-rows f16 %.2f  two-rows f32 %.2f  %g\n",
         fma/(t1-t0)/1e9,fma/(t2-t1)/1e9,fma/(t3-t2)/1e9,fma/(t4-t3)/1e9,fma/(t5-t4)/1e9,scores[5]);}
}
