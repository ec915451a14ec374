// Score block with its fold (16 sums -> one vector of 16 scores: 30 shuffles, 15 adds):
// f16 keys 2.9 G FMA/s (79% of the peak), f32 keys 3.4-3.5 (92-96%): widening and the
// fold's shuffles together saturate the FP pipes beside the FMAs (Zen 4 VM, 2026-12-05).
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
static inline __m512 bl(__m512 a, __m512 b, __mmask16 m, int g){
  __m512 c=_mm512_mask_blend_ps(m,a,b), d=_mm512_mask_blend_ps(m,b,a);
  __m512 dp = g==1? _mm512_permute_ps(d,0xb1) : g==2? _mm512_permute_ps(d,0x4e) : g==4? _mm512_shuffle_f32x4(d,d,0xb1) : _mm512_shuffle_f32x4(d,d,0x4e);
  return _mm512_add_ps(c,dp);}
static inline __m512 fold16b(__m512 *s){
  __m512 a[8],b[4],c[2];
  for(int i=0;i<8;i++)a[i]=bl(s[2*i],s[2*i+1],0xaaaa,1);
  for(int i=0;i<4;i++)b[i]=bl(a[2*i],a[2*i+1],0xcccc,2);
  for(int i=0;i<2;i++)c[i]=bl(b[2*i],b[2*i+1],0xf0f0,4);
  return bl(c[0],c[1],0xff00,8);}
// 8 vectors -> 1 (not the exact lane order; same op count as a real one)
static inline __m512 fold8(__m512 *s){
  __m512 a[4],b[2];
  for(int i=0;i<4;i++)a[i]=lvl1(s[2*i],s[2*i+1]);
  for(int i=0;i<2;i++)b[i]=lvl1(a[2*i],a[2*i+1]);
  return lvl3(b[0],b[1]);}
__attribute__((noinline)) void runF(int reps){
  for(int r=0;r<reps;r++)
   for(int k=0;k<KEYS;k+=4){ __m512 acc[16];
    for(int i=0;i<16;i++)acc[i]=_mm512_setzero_ps();
    _Pragma("GCC unroll 8") for(int c=0;c<D;c+=16){
      __m512 qv0=_mm512_load_ps(q+c),qv1=_mm512_load_ps(q+D+c),qv2=_mm512_load_ps(q+2*D+c),qv3=_mm512_load_ps(q+3*D+c);
      _Pragma("GCC unroll 4") for(int j=0;j<4;j++){
        __m512 kv=_mm512_cvtph_ps(_mm256_load_si256((__m256i*)(kh+(k+j)*D+c)));
        acc[j*4+0]=_mm512_fmadd_ps(kv,qv0,acc[j*4+0]);acc[j*4+1]=_mm512_fmadd_ps(kv,qv1,acc[j*4+1]);
        acc[j*4+2]=_mm512_fmadd_ps(kv,qv2,acc[j*4+2]);acc[j*4+3]=_mm512_fmadd_ps(kv,qv3,acc[j*4+3]);}
    }
    _mm512_store_ps(scores+k*4, fold16(acc)); }}
__attribute__((noinline)) void runB(int reps){
  for(int r=0;r<reps;r++)
   for(int k=0;k<KEYS;k+=4){ __m512 acc[16];
    for(int i=0;i<16;i++)acc[i]=_mm512_setzero_ps();
    _Pragma("GCC unroll 8") for(int c=0;c<D;c+=16){
      __m512 qv0=_mm512_load_ps(q+c),qv1=_mm512_load_ps(q+D+c),qv2=_mm512_load_ps(q+2*D+c),qv3=_mm512_load_ps(q+3*D+c);
      _Pragma("GCC unroll 4") for(int j=0;j<4;j++){
        __m512 kv=_mm512_load_ps(kf+(k+j)*D+c);
        acc[j*4+0]=_mm512_fmadd_ps(kv,qv0,acc[j*4+0]);acc[j*4+1]=_mm512_fmadd_ps(kv,qv1,acc[j*4+1]);
        acc[j*4+2]=_mm512_fmadd_ps(kv,qv2,acc[j*4+2]);acc[j*4+3]=_mm512_fmadd_ps(kv,qv3,acc[j*4+3]);}
    }
    _mm512_store_ps(scores+k*4, fold16(acc)); }}
// two rows per vector: k halves duplicated by a broadcast load + cvt
__attribute__((noinline)) void runV2(int reps){
  for(int r=0;r<reps;r++)
   for(int k=0;k<KEYS;k+=4){ __m512 acc[8];
    for(int i=0;i<8;i++)acc[i]=_mm512_setzero_ps();
    _Pragma("GCC unroll 16") for(int c=0;c<D;c+=8){
      __m512 qa=_mm512_load_ps(q2+c*2),qb=_mm512_load_ps(q2+2*D+c*2);
      _Pragma("GCC unroll 4") for(int j=0;j<4;j++){
        __m256i h=_mm256_broadcastsi128_si256(_mm_load_si128((__m128i*)(kh+(k+j)*D+c)));
        __m512 kv=_mm512_cvtph_ps(h);
        acc[j*2+0]=_mm512_fmadd_ps(kv,qa,acc[j*2+0]);acc[j*2+1]=_mm512_fmadd_ps(kv,qb,acc[j*2+1]);}
    }
    _mm512_store_ps(scores+k*4, fold8(acc)); }}
// two rows per vector, f32 keys (what an f32 cache would do)
__attribute__((noinline)) void runV2f(int reps){
  for(int r=0;r<reps;r++)
   for(int k=0;k<KEYS;k+=4){ __m512 acc[8];
    for(int i=0;i<8;i++)acc[i]=_mm512_setzero_ps();
    _Pragma("GCC unroll 16") for(int c=0;c<D;c+=8){
      __m512 qa=_mm512_load_ps(q2+c*2),qb=_mm512_load_ps(q2+2*D+c*2);
      _Pragma("GCC unroll 4") for(int j=0;j<4;j++){
        __m512 kv=_mm512_broadcast_f32x8(_mm256_load_ps(kf+(k+j)*D+c));
        acc[j*2+0]=_mm512_fmadd_ps(kv,qa,acc[j*2+0]);acc[j*2+1]=_mm512_fmadd_ps(kv,qb,acc[j*2+1]);}
    }
    _mm512_store_ps(scores+k*4, fold8(acc)); }}
int main(){
  for(int i=0;i<KEYS*D;i++){kh[i]=0x3c00;kf[i]=1;} for(int i=0;i<4*D;i++)q[i]=q2[i]=1e-9f;
  int reps=100000; double fma=(double)reps*KEYS*D/16*4;
  for(int t=0;t<3;t++){
  double t0=now(); runF(reps); double t1=now(); runB(reps); double t2=now(); runV2f(reps); double t3=now();
  printf("fold16 %.2f  fold16 f32 keys %.2f  two-rows f32 %.2f G FMA/s (peak ~3.67) %g\n",fma/(t1-t0)/1e9,fma/(t2-t1)/1e9,fma/(t3-t2)/1e9,scores[5]);}
}
