/* C model of MHA f32 decode's read pattern (branch cpu-decode-mem12, see
   bench/RESULTS.md): K and V arrays of 256 MiB each, rows of 128 floats.
   Usage: twostream MODE PREFETCH_BYTES TILE_ROWS; prints GB/s on the
   thread's CPU clock (best of 5).
   mode 0: one stream (all of K, then all of V), a plain sum;
   mode 1: the kernel's order: a tile of K rows (8 FMAs per row), then the
           same tile of V rows, a prefetch per line PREFETCH_BYTES ahead in
           the stream being read;
   mode 3: mode 1, but each phase prefetches the other stream (V of this
           tile during its K rows, K of the next tile during its V rows);
   mode 2: K row r and V row r in the same step (what a software-pipelined
           kernel, scores of tile t+1 beside values of tile t, would read).
   Build: cc -O2 -march=native twostream.c -o twostream */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double cpu(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
/* K and V arrays of n floats each; rows of 128 floats. mode 0: one stream (K then V whole).
   mode 1: alternate tiles of T rows (K tile, then V tile), prefetch dist ahead in the active stream.
   mode 2: row-interleaved: K row of tile t+1 then V row of tile t. */
int main(int argc,char**argv){
  size_t bytes=(size_t)1<<28; size_t n=bytes/4; int mode=atoi(argv[1]); long dist=atol(argv[2])/4; int T=atoi(argv[3]);
  float*K=aligned_alloc(64,bytes+(1<<20)),*V=aligned_alloc(64,bytes+(1<<20));
  for(size_t i=0;i<n;i++){K[i]=1;V[i]=2;}
  size_t rows=n/128; double best=1e9; float out=0;
  for(int rep=0;rep<5;rep++){
    double c0=cpu();
    __m512 acc[8]; for(int j=0;j<8;j++)acc[j]=_mm512_setzero_ps();
    __m512 s=_mm512_setzero_ps();
    if(mode==1){
      for(size_t t=0;t<rows;t+=T){
        for(size_t r=t;r<t+T;r++){ const float*p=K+r*128;
          if(dist) for(int l=0;l<128;l+=16) _mm_prefetch((const char*)(p+dist+l),_MM_HINT_T1);
          __m512 x=_mm512_mul_ps(_mm512_load_ps(p),acc[0]);
          for(int j=1;j<8;j++) x=_mm512_fmadd_ps(_mm512_load_ps(p+16*j),acc[j],x);
          s=_mm512_add_ps(s,x);}
        for(size_t r=t;r<t+T;r++){ const float*p=V+r*128;
          if(dist) for(int l=0;l<128;l+=16) _mm_prefetch((const char*)(p+dist+l),_MM_HINT_T1);
          for(int j=0;j<8;j++) acc[j]=_mm512_add_ps(acc[j],_mm512_load_ps(p+16*j));}
      }
    } else if(mode==3){
      for(size_t t=0;t<rows;t+=T){
        for(size_t r=t;r<t+T;r++){ const float*p=K+r*128; const float*q=V+r*128+dist;
          for(int l=0;l<128;l+=16) _mm_prefetch((const char*)(q+l),_MM_HINT_T1);
          __m512 x=_mm512_mul_ps(_mm512_load_ps(p),acc[0]);
          for(int j=1;j<8;j++) x=_mm512_fmadd_ps(_mm512_load_ps(p+16*j),acc[j],x);
          s=_mm512_add_ps(s,x);}
        for(size_t r=t;r<t+T;r++){ const float*p=V+r*128; const float*q=K+(r+T)*128+dist;
          for(int l=0;l<128;l+=16) _mm_prefetch((const char*)(q+l),_MM_HINT_T1);
          for(int j=0;j<8;j++) acc[j]=_mm512_add_ps(acc[j],_mm512_load_ps(p+16*j));}
      }
    } else if(mode==2){
      for(size_t r=0;r<rows;r++){
        const float*p=K+r*128; const float*q=V+r*128;
        if(dist) for(int l=0;l<128;l+=16){ _mm_prefetch((const char*)(p+dist+l),_MM_HINT_T1);_mm_prefetch((const char*)(q+dist+l),_MM_HINT_T1);}
        __m512 x=_mm512_mul_ps(_mm512_load_ps(p),acc[0]);
        for(int j=1;j<8;j++) x=_mm512_fmadd_ps(_mm512_load_ps(p+16*j),acc[j],x);
        s=_mm512_add_ps(s,x);
        for(int j=0;j<8;j++) acc[j]=_mm512_add_ps(acc[j],_mm512_load_ps(q+16*j));
      }
    } else {
      for(size_t r=0;r<rows;r++){ const float*p=K+r*128;
        if(dist) for(int l=0;l<128;l+=16) _mm_prefetch((const char*)(p+dist+l),_MM_HINT_T1);
        for(int j=0;j<8;j++) acc[j]=_mm512_add_ps(acc[j],_mm512_load_ps(p+16*j));}
      for(size_t r=0;r<rows;r++){ const float*p=V+r*128;
        if(dist) for(int l=0;l<128;l+=16) _mm_prefetch((const char*)(p+dist+l),_MM_HINT_T1);
        for(int j=0;j<8;j++) acc[j]=_mm512_add_ps(acc[j],_mm512_load_ps(p+16*j));}
    }
    double c=cpu()-c0; if(c<best)best=c;
    float tt[16]; _mm512_storeu_ps(tt,_mm512_add_ps(s,acc[3])); out+=tt[0];
  }
  printf("mode %d dist %ld T %d: %.2f GB/s (cpu) %g\n",mode,dist*4,T,2.0*bytes/best/1e9,out);
}
