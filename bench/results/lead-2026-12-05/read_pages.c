#define _GNU_SOURCE
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
// read n floats as S streams of chunks
__attribute__((noinline)) float readS(const float*p,size_t n,int S){
  __m512 a0=_mm512_setzero_ps(),a1=a0,a2=a0,a3=a0;
  size_t L=n/S; // stream length
  size_t blk=64; // floats per step per stream (256B)
  for(size_t k=0;k<L;k+=blk){
    for(int s=0;s<S;s++){const float*q=p+s*L+k;
      a0=_mm512_add_ps(a0,_mm512_load_ps(q));a1=_mm512_add_ps(a1,_mm512_load_ps(q+16));
      a2=_mm512_add_ps(a2,_mm512_load_ps(q+32));a3=_mm512_add_ps(a3,_mm512_load_ps(q+48));}
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0,a1),_mm512_add_ps(a2,a3)));
}
int main(int argc,char**argv){
  size_t bytes=538ull<<20; size_t n=bytes/4;
  int mode=atoi(argv[1]);
  float*p;
  if(mode==0){p=mmap(0,bytes,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);madvise(p,bytes,MADV_NOHUGEPAGE);}
  else if(mode==1){p=mmap(0,bytes+(2<<20),PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);p=(float*)(((size_t)p+(2<<20)-1)&~((size_t)(2<<20)-1));madvise(p,bytes,MADV_HUGEPAGE);}
  else if(mode==2){ int fd=open("/tmp/hp/data.bin",O_RDONLY); p=mmap(0,bytes,PROT_READ,MAP_PRIVATE,fd,0);}
  else { int fd=open("/tmp/hp/data.bin",O_RDONLY); char*r=mmap(0,bytes+(2<<20),PROT_NONE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
    r=(char*)(((size_t)r+(2<<20)-1)&~((size_t)(2<<20)-1));
    p=mmap(r,bytes,PROT_READ,MAP_PRIVATE|MAP_FIXED,fd,0); int a=madvise(p,bytes,MADV_HUGEPAGE); double t=now(); int b=madvise(p,bytes,25/*MADV_COLLAPSE*/); printf("madv %d collapse %d %.3fs\n",a,b,now()-t); if(b) perror("collapse");}
  if(mode<2) for(size_t i=0;i<n;i++)p[i]=(float)(i&7);
  float s=0; for(int S=1;S<=8;S*=2){double best=1e9;for(int r=0;r<7;r++){double t=now();s+=readS(p,n,S);t=now()-t;if(t<best)best=t;}
    printf("mode %d streams %d: %.1f GB/s\n",mode,S,bytes/best/1e9);}
  FILE*f=fopen("/proc/self/smaps_rollup","r");char line[256];while(fgets(line,256,f))if(strstr(line,"Huge")||strstr(line,"Pmd"))fputs(line,stdout);
  return s==1234.5;
}
