#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double cpu(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
/* mode 0: sequential; 1: MHA-like: blocks of 16 rows of 512B read column-wise (d-outer) */
static float run(const float*p,size_t n,size_t dist,int hint,int mode){
  __m512 a0=_mm512_setzero_ps(),a1=a0,a2=a0,a3=a0;
  if(mode==0){
  for(size_t i=0;i<n;i+=64){
    if(dist) for(int l=0;l<64;l+=16){
      const char*q=(const char*)(p+i+dist+l);
      if(hint==0)_mm_prefetch(q,_MM_HINT_T0); else if(hint==1)_mm_prefetch(q,_MM_HINT_T1); else if(hint==2) _mm_prefetch(q,_MM_HINT_T2); else _mm_prefetch(q,_MM_HINT_NTA);}
    a0=_mm512_add_ps(a0,_mm512_load_ps(p+i));a1=_mm512_add_ps(a1,_mm512_load_ps(p+i+16));
    a2=_mm512_add_ps(a2,_mm512_load_ps(p+i+32));a3=_mm512_add_ps(a3,_mm512_load_ps(p+i+48));}
  } else {
  /* 16 rows x 128 floats per block; d-outer */
  for(size_t i=0;i<n;i+=16*128){
    for(int d=0;d<128;d+=16){
      if(dist){ for(int l=0;l<16;l++){ const char*q=(const char*)(p+i+dist+ (d/16*16+l)*16); if(hint==1)_mm_prefetch(q,_MM_HINT_T1); else _mm_prefetch(q,_MM_HINT_T0);} }
      for(int k=0;k<16;k+=4){
        a0=_mm512_add_ps(a0,_mm512_load_ps(p+i+k*128+d));a1=_mm512_add_ps(a1,_mm512_load_ps(p+i+(k+1)*128+d));
        a2=_mm512_add_ps(a2,_mm512_load_ps(p+i+(k+2)*128+d));a3=_mm512_add_ps(a3,_mm512_load_ps(p+i+(k+3)*128+d));}
    }
  }}
  a0=_mm512_add_ps(_mm512_add_ps(a0,a1),_mm512_add_ps(a2,a3));
  return _mm512_reduce_add_ps(a0);
}
int main(int argc,char**argv){
  size_t bytes=(size_t)1<<30; size_t n=bytes/4-65536;
  float*b=aligned_alloc(64,bytes); for(size_t i=0;i<bytes/4;i++)b[i]=1;
  size_t dists[]={0,512,2048,8192,16384,32768}; float s=0;
  for(int mode=0;mode<2;mode++)
  for(int di=0;di<6;di++) for(int h=(di?0:1);h<(di?4:2);h++){
    if(mode==1&&h>1)continue;
    double best=1e9; for(int r=0;r<3;r++){double c=cpu(); s+=run(b,n,dists[di]/4,h,mode); c=cpu()-c; if(c<best)best=c;}
    printf("mode %d dist %6zu hint %d: %.2f GB/s\n",mode,dists[di],h,n*4.0/best/1e9);
  }
  printf("%g\n",s);return 0;}
