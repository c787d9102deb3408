// Thread settings shared by the command-line tool and the benchmark drivers.
#pragma once

namespace seqlab {

// Runs BLAS single-threaded. seqlab's parallelism is OpenMP (at::parallel_for in LibTorch and in
// the fused kernels); OpenBLAS keeps its own pthreads spinning after each call, and alongside n
// OpenMP threads on n cores they oversubscribe the machine: the SD-SSM training step ran 2-3x
// slower at 2 threads, and the zoo layer benchmarks spent a quarter of their time yielding.
// Looked up at run time, since the BLAS behind LibTorch may not be OpenBLAS (then a no-op).
void use_single_thread_blas();

}  // namespace seqlab
