#include "seqlab/util/threads.h"

#include <dlfcn.h>

namespace seqlab {

void use_single_thread_blas() {
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    fn(1);
}

}  // namespace seqlab
