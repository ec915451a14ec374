// Score-loop micro-kernels of GQA-4 (D 128, 32-key tile in L1, f16 keys): the periodic layout
// (head dim across the lanes, 4 keys x 4 rows of accumulators, shuffle-tree fold) against the
// (row, 4 head-dim elements) "lanes4" layout with 128-bit key broadcasts. Build:
// clang -O2 -march=znver4 score_layouts.c -o score_layouts && ./score_layouts   (CPU ns per key, best of 7)
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#define D 128
#define TK 32
static double now(){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
_Alignas(64) uint16_t K[TK*D];
_Alignas(64) float KF[TK*D], Q[4*D], QL[4*D], tile[TK*D], S[TK*4*8];
static const int IDX[4][2][16]={
#include "fold_idx.h"
};
#define PERIODIC(NAME, LOADK, FOLD) __attribute__((noinline)) void NAME(void){ \
  for(int k0=0;k0<TK;k0+=4){ __m512 acc[16]; for(int i=0;i<16;i++)acc[i]=_mm512_setzero_ps(); \
    for(int d=0;d<D;d+=16){ __m512 kv[4],q[4]; \
      for(int k=0;k<4;k++)kv[k]=LOADK; for(int r=0;r<4;r++)q[r]=_mm512_load_ps(&Q[r*D+d]); \
      for(int k=0;k<4;k++)for(int r=0;r<4;r++)acc[k*4+r]=_mm512_fmadd_ps(kv[k],q[r],acc[k*4+r]); } \
    int n=16; if(FOLD){ for(int lv=0;lv<4;lv++){__m512i L=_mm512_loadu_si512(IDX[lv][0]),H=_mm512_loadu_si512(IDX[lv][1]); \
      for(int p=0;p<n;p+=2)acc[p/2]=_mm512_add_ps(_mm512_permutex2var_ps(acc[p],L,acc[p+1]),_mm512_permutex2var_ps(acc[p],H,acc[p+1])); n/=2;} \
      _mm512_store_ps(&S[k0*4],acc[0]);} else for(int i=0;i<16;i++)_mm512_store_ps(&S[(k0*4+i)*16%(TK*4*8)],acc[i]); }}
PERIODIC(p_cvt, _mm512_cvtph_ps(_mm256_load_si256((void*)&K[(k0+k)*D+d])), 1)
PERIODIC(p_cvt_nofold, _mm512_cvtph_ps(_mm256_load_si256((void*)&K[(k0+k)*D+d])), 0)
PERIODIC(p_f32, _mm512_load_ps(&KF[(k0+k)*D+d]), 1)
PERIODIC(p_f32_nofold, _mm512_load_ps(&KF[(k0+k)*D+d]), 0)
static inline __m512 fold4(__m512 a0,__m512 a1,__m512 a2,__m512 a3){
  __m512 t0=_mm512_add_ps(_mm512_shuffle_ps(a0,a1,0x88),_mm512_shuffle_ps(a0,a1,0xdd));
  __m512 t1=_mm512_add_ps(_mm512_shuffle_ps(a2,a3,0x88),_mm512_shuffle_ps(a2,a3,0xdd));
  return _mm512_add_ps(_mm512_shuffle_ps(t0,t1,0x88),_mm512_shuffle_ps(t0,t1,0xdd)); }
static inline void widen(void){ for(int k=0;k<TK;k++)for(int d=0;d<D;d+=16)_mm512_store_ps(&tile[k*D+d],_mm512_cvtph_ps(_mm256_load_si256((void*)&K[k*D+d]))); }
#define L4(NAME, WIDEN, NK) __attribute__((noinline)) void NAME(void){ if(WIDEN) widen(); \
  for(int k0=0;k0<TK;k0+=NK){ __m512 acc[NK]; for(int i=0;i<NK;i++)acc[i]=_mm512_setzero_ps(); \
    for(int d=0;d<D;d+=4){ __m512 q=_mm512_load_ps(&QL[d*4]); \
      for(int k=0;k<NK;k++)acc[k]=_mm512_fmadd_ps(q,_mm512_broadcast_f32x4(_mm_load_ps(&tile[(k0+k)*D+d])),acc[k]); } \
    for(int h=0;h<NK/4;h++) _mm512_store_ps(&S[(k0+h*4)*4],fold4(acc[h*4],acc[h*4+1],acc[h*4+2],acc[h*4+3])); }}
L4(l4_8, 0, 8)
L4(l4_8w, 1, 8)
L4(l4_12, 0, 12)
L4(l4_16, 0, 16)
/* lanes4 with the key widened in registers: 16 f16 -> zmm, then 4 in-register 128-bit broadcasts */
__attribute__((noinline)) void l4_reg(void){
  for(int k0=0;k0<TK;k0+=4){ __m512 acc[4]; for(int i=0;i<4;i++)acc[i]=_mm512_setzero_ps();
    for(int d=0;d<D;d+=16){ __m512 q0=_mm512_load_ps(&QL[d*4]),q1=_mm512_load_ps(&QL[d*4+16]),q2=_mm512_load_ps(&QL[d*4+32]),q3=_mm512_load_ps(&QL[d*4+48]);
      for(int k=0;k<4;k++){ __m512 kv=_mm512_cvtph_ps(_mm256_load_si256((void*)&K[(k0+k)*D+d]));
        acc[k]=_mm512_fmadd_ps(q0,_mm512_shuffle_f32x4(kv,kv,0x00),acc[k]);
        acc[k]=_mm512_fmadd_ps(q1,_mm512_shuffle_f32x4(kv,kv,0x55),acc[k]);
        acc[k]=_mm512_fmadd_ps(q2,_mm512_shuffle_f32x4(kv,kv,0xaa),acc[k]);
        acc[k]=_mm512_fmadd_ps(q3,_mm512_shuffle_f32x4(kv,kv,0xff),acc[k]); } }
    _mm512_store_ps(&S[k0*4],fold4(acc[0],acc[1],acc[2],acc[3])); }}
__attribute__((noinline)) void fmaonly(void){ __m512 a[8];for(int i=0;i<8;i++)a[i]=_mm512_load_ps(&S[i*16]);
  for(int k=0;k<TK*4;k++)for(int i=0;i<8;i++){__m512 q=_mm512_load_ps(&Q[(k*8+i)%(4*D/16)*16]); a[i]=_mm512_fmadd_ps(q,a[i],q);} for(int i=0;i<8;i++)_mm512_store_ps(&S[i*16],a[i]);}

/* f16 as words: even = sra(w<<16,3)&0x8fffe000, odd = sra(w,3)&0x8fffe000 (x 2^-112), queries split even/odd */
__attribute__((noinline)) void p_trick(void){
  const __m512i M=_mm512_set1_epi32(0x8fffe000);
  for(int k0=0;k0<TK;k0+=4){ __m512 acc[16]; for(int i=0;i<16;i++)acc[i]=_mm512_setzero_ps();
    for(int d=0;d<D;d+=32){ __m512 ke[4],ko[4];
      for(int k=0;k<4;k++){ __m512i w=_mm512_load_si512((void*)&K[(k0+k)*D+d]);
        ke[k]=_mm512_castsi512_ps(_mm512_and_si512(_mm512_srai_epi32(_mm512_slli_epi32(w,16),3),M));
        ko[k]=_mm512_castsi512_ps(_mm512_and_si512(_mm512_srai_epi32(w,3),M)); }
      for(int r=0;r<4;r++){ __m512 qe=_mm512_load_ps(&Q[r*D+d]), qo=_mm512_load_ps(&Q[r*D+d+16]);
        for(int k=0;k<4;k++){acc[k*4+r]=_mm512_fmadd_ps(ke[k],qe,acc[k*4+r]);acc[k*4+r]=_mm512_fmadd_ps(ko[k],qo,acc[k*4+r]);}} }
    int n=16; for(int lv=0;lv<4;lv++){__m512i L=_mm512_loadu_si512(IDX[lv][0]),H=_mm512_loadu_si512(IDX[lv][1]);
      for(int p=0;p<n;p+=2)acc[p/2]=_mm512_add_ps(_mm512_permutex2var_ps(acc[p],L,acc[p+1]),_mm512_permutex2var_ps(acc[p],H,acc[p+1])); n/=2;}
    _mm512_store_ps(&S[k0*4],acc[0]); }}
/* same with bf16 split (shift/and) for comparison */
__attribute__((noinline)) void p_bf16(void){
  const __m512i M=_mm512_set1_epi32(0xffff0000);
  for(int k0=0;k0<TK;k0+=4){ __m512 acc[16]; for(int i=0;i<16;i++)acc[i]=_mm512_setzero_ps();
    for(int d=0;d<D;d+=32){ __m512 ke[4],ko[4];
      for(int k=0;k<4;k++){ __m512i w=_mm512_load_si512((void*)&K[(k0+k)*D+d]);
        ke[k]=_mm512_castsi512_ps(_mm512_slli_epi32(w,16)); ko[k]=_mm512_castsi512_ps(_mm512_and_si512(w,M)); }
      for(int r=0;r<4;r++){ __m512 qe=_mm512_load_ps(&Q[r*D+d]), qo=_mm512_load_ps(&Q[r*D+d+16]);
        for(int k=0;k<4;k++){acc[k*4+r]=_mm512_fmadd_ps(ke[k],qe,acc[k*4+r]);acc[k*4+r]=_mm512_fmadd_ps(ko[k],qo,acc[k*4+r]);}} }
    int n=16; for(int lv=0;lv<4;lv++){__m512i L=_mm512_loadu_si512(IDX[lv][0]),H=_mm512_loadu_si512(IDX[lv][1]);
      for(int p=0;p<n;p+=2)acc[p/2]=_mm512_add_ps(_mm512_permutex2var_ps(acc[p],L,acc[p+1]),_mm512_permutex2var_ps(acc[p],H,acc[p+1])); n/=2;}
    _mm512_store_ps(&S[k0*4],acc[0]); }}
typedef void(*fn)(void);
int main(){
  for(int i=0;i<TK*D;i++){K[i]=0x3c00;KF[i]=1;}
  for(int i=0;i<4*D;i++)Q[i]=QL[i]=1e-3f;
  fn f[]={p_trick,p_bf16,fmaonly,p_cvt,p_cvt_nofold,p_f32,p_f32_nofold,l4_8,l4_8w,l4_12,l4_16,l4_reg};
  const char*nm[]={"periodic f16 trick","periodic bf16 split","fmaonly(32 FMA)","periodic f16","periodic f16 nofold","periodic f32","periodic f32 nofold","l4 nk8 f32tile","l4 nk8 +widen","l4 nk12","l4 nk16","l4 reg-shuffle f16"};
  int V=sizeof(f)/sizeof(f[0]); double best[16]; for(int v=0;v<V;v++)best[v]=1e9;
  int N=50000;
  for(int rep=0;rep<7;rep++)for(int v=0;v<V;v++){double t=now();for(int i=0;i<N;i++)f[v]();t=(now()-t)/N/TK*1e9; if(t<best[v])best[v]=t;}
  for(int v=0;v<V;v++)printf("%-22s %6.2f ns/key  %5.1f cycles@3.66\n",nm[v],best[v],best[v]*3.66);
}
