#include <immintrin.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <sys/mman.h>
static double now(){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define D 128
#ifndef HINT
#define HINT _MM_HINT_T1
#endif
__attribute__((noinline)) void score(const float*Q,const float*K,float*S,int nk,int dist,int every){
  for(int k0=0;k0<nk;k0+=12){
    __m512 acc[24]; for(int i=0;i<24;i++)acc[i]=_mm512_setzero_ps();
    const float*kp=K+(size_t)k0*D;
    const char*pf=(const char*)(kp+(size_t)dist*12*D);
    for(int d=0;d<D;d++){
      if(dist){ if(every>0){ if(d%every==0 && d/every<96) _mm_prefetch(pf+(d/every)*64,HINT);} else { int m=-every; if(d*m<96) for(int u=0;u<m;u++) _mm_prefetch(pf+(d*m+u)*64,HINT);} }
      __m512 q0=_mm512_loadu_ps(Q+d*32),q1=_mm512_loadu_ps(Q+d*32+16);
      #pragma GCC unroll 12
      for(int k=0;k<12;k++){__m512 kv=_mm512_set1_ps(kp[k*D+d]);acc[2*k]=_mm512_fmadd_ps(kv,q0,acc[2*k]);acc[2*k+1]=_mm512_fmadd_ps(kv,q1,acc[2*k+1]);}
    }
    for(int i=0;i<24;i++)_mm512_storeu_ps(S+(k0*2+i)*16,acc[i]);
  }
}
int main(int c,char**v){
  int nk=atoi(v[1]); int reps=atoi(v[2]);
  size_t kb=((size_t)(nk+2000)*D*4+(2<<20))&~((size_t)(2<<20)-1); float*Q=aligned_alloc(64,D*32*4),*K=aligned_alloc(2<<20,kb); if(getenv("THP"))madvise(K,kb,MADV_HUGEPAGE); float*S=aligned_alloc(64,(size_t)nk*32*4+4096);
  for(int i=0;i<D*32;i++)Q[i]=i*1e-3f; for(long i=0;i<(long)(nk+2000)*D;i++)K[i]=(i%7)*1e-2f;
  int dists[]={1,2,6};
  int evs[]={1,-2,-4,-8}; for(int ei=0;ei<4;ei++){int e=evs[ei]; printf("every %d\n",e);
  for(int i=0;i<3;i++){ double t=now(); for(int r=0;r<reps;r++)score(Q,K,S,nk,dists[i],e); t=now()-t;
  printf("dist %d blocks: %.1f GF/s  %.2f GB/s\n",dists[i],2.0*32*D*nk*reps/t/1e9, (double)nk*D*4*reps/t/1e9);}}
  return 0;}
