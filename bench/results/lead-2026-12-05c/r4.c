// Four query rows per vector (vbroadcastf32x4 of 4 key elements): the fold shrinks to
// 24 shuffles per 64 scores, but the 128-bit broadcasts cost: 2.6 G FMA/s on an f32
// tile (71%); widening an f16 tile in bulk beside it 1.45-1.75 (lead, 2026-12-05). Not used.
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
#define KEYS 128
#define D 128
__attribute__((aligned(64))) uint16_t kh[2*KEYS*D];
__attribute__((aligned(64))) float kf[KEYS*D];
__attribute__((aligned(64))) float kt2[KEYS*D];
__attribute__((aligned(64))) float q4[4*D]; // [d/4][row][4]
__attribute__((aligned(64))) float scores[KEYS*4];
#define SH(a,b,i) _mm512_shuffle_ps(a,b,i)
static inline __m512 lvl1(__m512 a, __m512 b){ return _mm512_add_ps(SH(a,b,0x88),SH(a,b,0xdd)); }
// 16 keys x 4 rows, one accumulator per key: acc[k] lanes = (row, dsub)
static inline void block16(const float *kbase, float *out){
  __m512 acc[16]; for(int i=0;i<16;i++)acc[i]=_mm512_setzero_ps();
  _Pragma("GCC unroll 4") for(int dg=0;dg<D/4;dg++){
    __m512 qv=_mm512_load_ps(q4+dg*16);
    _Pragma("GCC unroll 16") for(int k=0;k<16;k++){
      __m512 kv=_mm512_broadcast_f32x4(_mm_load_ps(kbase+k*D+dg*4));
      acc[k]=_mm512_fmadd_ps(kv,qv,acc[k]);}
  }
  // fold d-sub (bits 0,1 of lane): 16 -> 8 -> 4 vectors
  __m512 a[8],b[4];
  for(int i=0;i<8;i++)a[i]=lvl1(acc[2*i],acc[2*i+1]);
  for(int i=0;i<4;i++){b[i]=lvl1(a[2*i],a[2*i+1]); _mm512_store_ps(out+i*16,b[i]);}
}
__attribute__((noinline)) void runF32(int reps){
  for(int r=0;r<reps;r++) for(int k=0;k<KEYS;k+=16) block16(kf+k*D, scores+k*4);}
// f16 -> f32 tile conversion of the next tile interleaved (emulated: convert one tile of 128 keys per pass, spread)
__attribute__((noinline)) void runF16(int reps){
  for(int r=0;r<reps;r++){
    for(int k=0;k<KEYS;k+=16){
      // widen 16 keys of the other tile (16*128/16 = 128 vectors) - spread: do it here in bulk per block
      _Pragma("GCC unroll 8") for(int i=0;i<16*D/16;i++) _mm512_store_ps(kt2+k*D+i*16,_mm512_cvtph_ps(_mm256_load_si256((__m256i*)(kh+k*D+i*16))));
      block16(kf+k*D, scores+k*4);}}}
int main(){
  for(int i=0;i<KEYS*D;i++){kh[i]=0x3c00;kf[i]=1;} for(int i=0;i<4*D;i++)q4[i]=1e-9f;
  int reps=100000; double fma=(double)reps*KEYS*D/16*4;
  for(int t=0;t<3;t++){
  double t0=now(); runF32(reps); double t1=now(); runF16(reps); double t2=now();
  printf("4rows f32 tile %.2f   4rows + widening f16 %.2f G FMA/s (peak ~3.67) %g\n",fma/(t1-t0)/1e9,fma/(t2-t1)/1e9,scores[5]+kt2[7]);}
}
