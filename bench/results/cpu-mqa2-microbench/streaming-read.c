#include <immintrin.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
static double now(){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int c,char**v){ size_t n=(size_t)1<<27; float*a=aligned_alloc(64,n*4); for(size_t i=0;i<n;i++)a[i]=i;
 for(int dist=0;dist<=8192;dist=dist?dist*4:512){ double t=now(); __m512 s=_mm512_setzero_ps(),s2=s;
 for(size_t i=0;i<n;i+=32){ if(dist)_mm_prefetch((char*)(a+i)+dist,_MM_HINT_T0),_mm_prefetch((char*)(a+i)+dist+64,_MM_HINT_T0); s=_mm512_add_ps(s,_mm512_load_ps(a+i)); s2=_mm512_add_ps(s2,_mm512_load_ps(a+i+16));}
 t=now()-t; printf("dist %d: %.2f GB/s (%f)\n",dist,n*4/t/1e9,_mm512_reduce_add_ps(s+s2));}
}
