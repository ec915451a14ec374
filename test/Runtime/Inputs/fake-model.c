/* Hand-written "compiled models" with broken or unusual signatures, built
   with -DSIGNATURE='"..."' (and -DNO_SIGNATURE for a library without one).
   The run function copies input 0 to output 0 (4 floats) so a well-formed
   signature can also be run. With -DWITH_PARAMS the library also exports
   attn_model_bind_params and adds the 4 floats at offset 64 of the bound
   parameter file to the copy. */
#include <string.h>

#ifndef NO_SIGNATURE
const char attn_model_signature[] = SIGNATURE;
#endif

#ifdef WITH_PARAMS
static const float *params;
void attn_model_bind_params(const void *base) {
  params = (const float *)((const char *)base + 64);
}
#endif

void attn_model_run(void **buffers) {
  memcpy(buffers[1], buffers[0], 16);
#ifdef WITH_PARAMS
  for (int i = 0; i < 4; ++i)
    ((float *)buffers[1])[i] += params[i];
#endif
}
