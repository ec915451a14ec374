/* Hand-written "compiled models" with broken or unusual signatures, built
   with -DSIGNATURE='"..."' (and -DNO_SIGNATURE for a library without one).
   The run function copies input 0 to output 0 (4 floats) so a well-formed
   signature can also be run. */
#include <string.h>

#ifndef NO_SIGNATURE
const char attn_model_signature[] = SIGNATURE;
#endif

void attn_model_run(void **buffers) { memcpy(buffers[1], buffers[0], 16); }
