// MHA f32 decode micro-benchmark (Zen 4): 32 heads x 16384 keys x D 128, K and V planes apart; key tiles in row order (MODE=0) or a vector of 16 rows per step (MODE=1); prefetch variants per argument "T,PFK,PFV,HINT,DIST" (DIST < 0: the next tile spread; else bytes ahead of each row). Build: clang -O2 -march=znver4 mha-f32-decode-microbench.c -lm; run: ./a.out REPS VARIANT...
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
static double cpu(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define D 128
static int T=64, PFK=1, PFV=1, HINT=1; static long DIST=-1; // DIST<0: next tile spread; else bytes ahead per row
static int MODE=0; // 0: K tile then V tile; 1: interleave K block16 / V block16 (scores for block then values lagging)
static inline void pf(const void*p){ if(HINT==1)_mm_prefetch(p,_MM_HINT_T1); else if(HINT==0)_mm_prefetch(p,_MM_HINT_T0); else if(HINT==2)_mm_prefetch(p,_MM_HINT_T2); else _mm_prefetch(p,_MM_HINT_NTA);}
static float head(const float*K,const float*V,const float*q,int S,float*out){
  __m512 Q[8]; for(int i=0;i<8;i++)Q[i]=_mm512_loadu_ps(q+16*i);
  __m512 A[8]; for(int i=0;i<8;i++)A[i]=_mm512_setzero_ps();
  float sc[256]; float m=-1e30f,l=0;
  const char*Kend=(const char*)(K+(size_t)S*D)-64, *Vend=(const char*)(V+(size_t)S*D)-64;
  for(int kt=0;kt<S;kt+=T){
    const char*nk=(const char*)(K+(size_t)(kt+T)*D), *nv=(const char*)(V+(size_t)(kt+T)*D);
    int lines=T*8; // per cache
    for(int k0=0;k0<T;k0+=16){
      __m512 s[16];
      if(MODE==1){
        const float*r0=K+(size_t)(kt+k0)*D;
        for(int k=0;k<16;k++)s[k]=_mm512_setzero_ps();
        for(int d=0;d<D;d+=16){
          if(PFK&&DIST<0){int slot=k0/2+d/32; if((d&16)==0) for(int i=0;i<16;i++){const char*p=nk+(size_t)(slot*16+i)*64; if(p>Kend)p=Kend; pf(p);} }
          __m512 qq=Q[d/16];
#pragma clang loop unroll(full)
          for(int k=0;k<16;k++)s[k]=_mm512_fmadd_ps(_mm512_loadu_ps(r0+k*D+d),qq,s[k]);
        }
      } else
      for(int k=0;k<16;k++){
        const float*r=K+(size_t)(kt+k0+k)*D;
        if(PFK){ if(DIST<0){ if((k&1)==0){ int slot=(k0+k)/2; for(int i=0;i<16;i++){const char*p=nk+(size_t)(slot*16+i)*64; if(p>Kend)p=Kend; pf(p);} } }
                 else { for(int i=0;i<8;i++){const char*p=(const char*)r+DIST+i*64; if(p>Kend)p=Kend; pf(p);} } }
        __m512 a=_mm512_mul_ps(_mm512_loadu_ps(r),Q[0]);
        for(int i=1;i<8;i++)a=_mm512_fmadd_ps(_mm512_loadu_ps(r+16*i),Q[i],a);
        s[k]=a;
      }
      for(int k=0;k<16;k++)sc[k0+k]=_mm512_reduce_add_ps(s[k]);
    }
    float mx=m; for(int k=0;k<T;k++) if(sc[k]>mx)mx=sc[k];
    float al=__builtin_expf(m-mx); l*=al; for(int k=0;k<T;k++){sc[k]=__builtin_expf(sc[k]-mx); l+=sc[k];} m=mx;
    __m512 alv=_mm512_set1_ps(al); for(int i=0;i<8;i++)A[i]=_mm512_mul_ps(A[i],alv);
    for(int k=0;k<T;k++){
      const float*r=V+(size_t)(kt+k)*D;
      if(PFV){ if(DIST<0){ for(int i=0;i<8;i++){const char*p=nv+(size_t)(k*8+i)*64; if(p>Vend)p=Vend; pf(p);} }
               else { for(int i=0;i<8;i++){const char*p=(const char*)r+DIST+i*64; if(p>Vend)p=Vend; pf(p);} } }
      __m512 p=_mm512_set1_ps(sc[k]);
      for(int i=0;i<8;i++)A[i]=_mm512_fmadd_ps(p,_mm512_loadu_ps(r+16*i),A[i]);
    }
  }
  for(int i=0;i<8;i++)_mm512_storeu_ps(out+16*i,A[i]);
  return l;
}
int main(int argc,char**argv){ MODE=getenv("MODE")?atoi(getenv("MODE")):0;
  int H=32,S=16384; size_t plane=(size_t)S*D;
  int huge=getenv("HUGE")?atoi(getenv("HUGE")):0;
  size_t bytes=(size_t)H*plane*4;
  float*K=aligned_alloc(2<<20,bytes),*V=aligned_alloc(2<<20,bytes);
  if(huge){madvise(K,bytes,MADV_HUGEPAGE);madvise(V,bytes,MADV_HUGEPAGE);}
  for(size_t i=0;i<H*plane;i++){K[i]=(i%7)*0.01f;V[i]=(i%5)*0.1f;}
  float q[D]; for(int i=0;i<D;i++)q[i]=0.01f*i; float out[D]; float sink=0;
  // variants from argv: "T,PFK,PFV,HINT,DIST"
  int reps=argc>1?atoi(argv[1]):3;
  for(int a=2;a<argc;a++){
    sscanf(argv[a],"%d,%d,%d,%d,%ld",&T,&PFK,&PFV,&HINT,&DIST);
    double best=1e9,sum=0;
    for(int r=0;r<reps;r++){ double c=cpu(); for(int h=0;h<H;h++) sink+=head(K+h*plane,V+h*plane,q,S,out); c=cpu()-c; if(c<best)best=c; sum+=c;}
    printf("%-22s best %7.2f ms (%5.2f GB/s) mean %7.2f ms\n",argv[a],best*1e3,2*bytes/best/1e9,sum/reps*1e3); fflush(stdout);
  }
  printf("#%g\n",sink);
}
