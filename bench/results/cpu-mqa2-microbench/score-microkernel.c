#include <immintrin.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
static double now(){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
// Q: [D][32] floats; K: [NK][D]; emulate score loop over keys blocks of 12
#define D 128
__attribute__((noinline)) void score(const float*Q,const float*K,float*S,int nk){
  for(int k0=0;k0<nk;k0+=12){
    __m512 acc[24]; for(int i=0;i<24;i++)acc[i]=_mm512_setzero_ps();
    const float*kp=K+(size_t)k0*D;
    for(int d=0;d<D;d++){
      __m512 q0=_mm512_loadu_ps(Q+d*32),q1=_mm512_loadu_ps(Q+d*32+16);
      #pragma GCC unroll 12
      for(int k=0;k<12;k++){__m512 kv=_mm512_set1_ps(kp[k*D+d]);acc[2*k]=_mm512_fmadd_ps(kv,q0,acc[2*k]);acc[2*k+1]=_mm512_fmadd_ps(kv,q1,acc[2*k+1]);}
    }
    for(int i=0;i<24;i++)_mm512_storeu_ps(S+(k0*2+i)*16,acc[i]);
  }
}
__attribute__((noinline)) void fmaonly(float*S,long n){
  __m512 acc[24]; for(int i=0;i<24;i++)acc[i]=_mm512_set1_ps(i);
  __m512 a=_mm512_set1_ps(1.0001f),b=_mm512_set1_ps(0.999f);
  for(long j=0;j<n;j++){
    #pragma GCC unroll 24
    for(int i=0;i<24;i++)acc[i]=_mm512_fmadd_ps(acc[i],a,b);}
  for(int i=0;i<24;i++)_mm512_storeu_ps(S+i*16,acc[i]);
}
int main(int c,char**v){
  int nk=atoi(v[1]); int reps=atoi(v[2]);
  float*Q=aligned_alloc(64,D*32*4),*K=aligned_alloc(64,(size_t)nk*D*4),*S=aligned_alloc(64,(size_t)nk*32*4+4096);
  for(int i=0;i<D*32;i++)Q[i]=i*1e-3f; for(long i=0;i<(long)nk*D;i++)K[i]=(i%7)*1e-2f;
  double t=now(); for(int r=0;r<reps;r++)score(Q,K,S,nk); t=now()-t;
  printf("score nk=%d: %.1f GF/s\n",nk,2.0*32*D*nk*reps/t/1e9);
  long n=100000000; t=now(); fmaonly(S,n); t=now()-t; printf("fma: %.1f GF/s\n",24.0*16*2*n/t/1e9);
  return 0;}
