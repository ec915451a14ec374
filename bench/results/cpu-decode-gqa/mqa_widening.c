// Rows-across (MQA, G 32) score micro-kernels: f32 tile, f16 widened once per tile, bf16 widened
// in the loop, f16 widened in the loop (integer trick, x 2^-112), and f16 widening of the next key
// block fused into the FMA loop. Build: clang -O2 -march=znver4 mqa_widening.c -o mqa && ./mqa
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#define D 128
#define TK 36
#define KB 6
static double now(){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
_Alignas(64) uint16_t K[TK*D];
_Alignas(64) float QT[D*32], tile[TK*D], S[TK*32];
static inline void kernel_tile(void){
  for(int k0=0;k0<TK;k0+=KB){ __m512 a[KB][2]; for(int k=0;k<KB;k++)a[k][0]=a[k][1]=_mm512_setzero_ps();
    for(int d=0;d<D;d++){ __m512 q0=_mm512_load_ps(&QT[d*32]),q1=_mm512_load_ps(&QT[d*32+16]);
      for(int k=0;k<KB;k++){ __m512 b=_mm512_set1_ps(tile[(k0+k)*D+d]); a[k][0]=_mm512_fmadd_ps(b,q0,a[k][0]); a[k][1]=_mm512_fmadd_ps(b,q1,a[k][1]);} }
    for(int k=0;k<KB;k++){_mm512_store_ps(&S[(k0+k)*32],a[k][0]);_mm512_store_ps(&S[(k0+k)*32+16],a[k][1]);} } }
__attribute__((noinline)) void f16_tile(void){
  for(int k=0;k<TK;k++)for(int d=0;d<D;d+=16)_mm512_store_ps(&tile[k*D+d],_mm512_cvtph_ps(_mm256_load_si256((void*)&K[k*D+d])));
  kernel_tile(); }
__attribute__((noinline)) void f32_tile_only(void){ kernel_tile(); }
#define INL(NAME, EVEN, ODD) __attribute__((noinline)) void NAME(void){ const __m512i M=_mm512_set1_epi32(0x8fffe000), H=_mm512_set1_epi32(0xffff0000); \
  for(int k0=0;k0<TK;k0+=KB){ __m512 a[KB][2]; for(int k=0;k<KB;k++)a[k][0]=a[k][1]=_mm512_setzero_ps(); \
    for(int d=0;d<D;d+=2){ __m512 q0=_mm512_load_ps(&QT[d*32]),q1=_mm512_load_ps(&QT[d*32+16]),q2=_mm512_load_ps(&QT[d*32+32]),q3=_mm512_load_ps(&QT[d*32+48]); \
      for(int k=0;k<KB;k++){ __m512i w=_mm512_set1_epi32(*(int*)&K[(k0+k)*D+d]); __m512 e=_mm512_castsi512_ps(EVEN), o=_mm512_castsi512_ps(ODD); \
        a[k][0]=_mm512_fmadd_ps(e,q0,a[k][0]); a[k][1]=_mm512_fmadd_ps(e,q1,a[k][1]); a[k][0]=_mm512_fmadd_ps(o,q2,a[k][0]); a[k][1]=_mm512_fmadd_ps(o,q3,a[k][1]);} } \
    for(int k=0;k<KB;k++){_mm512_store_ps(&S[(k0+k)*32],a[k][0]);_mm512_store_ps(&S[(k0+k)*32+16],a[k][1]);} } }
INL(bf16_inline, _mm512_slli_epi32(w,16), _mm512_and_si512(w,H))
INL(f16_inline_trick, _mm512_and_si512(_mm512_srai_epi32(_mm512_slli_epi32(w,16),3),M), _mm512_and_si512(_mm512_srai_epi32(w,3),M))
/* f16 inline via vcvtph2ps of a broadcast f16 (one cvt per element) */
__attribute__((noinline)) void f16_inline_cvt(void){
  for(int k0=0;k0<TK;k0+=KB){ __m512 a[KB][2]; for(int k=0;k<KB;k++)a[k][0]=a[k][1]=_mm512_setzero_ps();
    for(int d=0;d<D;d++){ __m512 q0=_mm512_load_ps(&QT[d*32]),q1=_mm512_load_ps(&QT[d*32+16]);
      for(int k=0;k<KB;k++){ __m512 b=_mm512_cvtph_ps(_mm256_set1_epi16(K[(k0+k)*D+d])); a[k][0]=_mm512_fmadd_ps(b,q0,a[k][0]); a[k][1]=_mm512_fmadd_ps(b,q1,a[k][1]);} }
    for(int k=0;k<KB;k++){_mm512_store_ps(&S[(k0+k)*32],a[k][0]);_mm512_store_ps(&S[(k0+k)*32+16],a[k][1]);} } }

__attribute__((noinline)) void f16_fused(void){
  for(int k=0;k<KB;k++)for(int d=0;d<D;d+=16)_mm512_store_ps(&tile[k*D+d],_mm512_cvtph_ps(_mm256_load_si256((void*)&K[k*D+d])));
  for(int k0=0;k0<TK;k0+=KB){ __m512 a[KB][2]; for(int k=0;k<KB;k++)a[k][0]=a[k][1]=_mm512_setzero_ps();
    int nx = k0+KB<TK; float *dst=&tile[(k0+KB)*D]; uint16_t *src=&K[(k0+KB)*D];
    for(int d=0;d<D;d+=8){
      if(nx){ int v=(d/8)*3; for(int i=0;i<3;i++)_mm512_store_ps(dst+(v+i)*16,_mm512_cvtph_ps(_mm256_load_si256((void*)(src+(v+i)*16)))); }
      for(int dd=d;dd<d+8;dd++){ __m512 q0=_mm512_load_ps(&QT[dd*32]),q1=_mm512_load_ps(&QT[dd*32+16]);
      for(int k=0;k<KB;k++){ __m512 b=_mm512_set1_ps(tile[(k0+k)*D+dd]); a[k][0]=_mm512_fmadd_ps(b,q0,a[k][0]); a[k][1]=_mm512_fmadd_ps(b,q1,a[k][1]);} } }
    for(int k=0;k<KB;k++){_mm512_store_ps(&S[(k0+k)*32],a[k][0]);_mm512_store_ps(&S[(k0+k)*32+16],a[k][1]);} } }
typedef void(*fn)(void);
int main(){
  for(int i=0;i<TK*D;i++)K[i]=0x3c00; for(int i=0;i<D*32;i++)QT[i]=1e-3f;
  fn f[]={f16_fused,f32_tile_only,f16_tile,bf16_inline,f16_inline_trick,f16_inline_cvt};
  const char*nm[]={"f16 fused widen next blk","f32 tile (no widen)","f16 widen+tile","bf16 inline","f16 inline int trick","f16 inline cvt bcast"};
  int V=6; double best[8]; for(int v=0;v<V;v++)best[v]=1e9; int N=20000;
  for(int rep=0;rep<7;rep++)for(int v=0;v<V;v++){double t=now();for(int i=0;i<N;i++)f[v]();t=(now()-t)/N/TK*1e9;if(t<best[v])best[v]=t;}
  for(int v=0;v<V;v++)printf("%-24s %6.2f ns/key (256 FMA/key)\n",nm[v],best[v]);
}
