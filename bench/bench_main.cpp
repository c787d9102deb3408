// The microbenchmarks' main: Google Benchmark's, after the thread settings of the seqlab tool
// (OpenMP threads from OMP_NUM_THREADS, BLAS single-threaded), so that a layer measured here
// runs as it does in `seqlab train`.
#include <benchmark/benchmark.h>

#include "seqlab/util/threads.h"

int main(int argc, char** argv) {
  seqlab::use_single_thread_blas();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
