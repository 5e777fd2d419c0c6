// Sizes libuv's thread pool before anything uses it (imported first by cli.ts; the pool
// is made on first use, with the size it finds then). Every fsync waits in a pool thread:
// with the default 4, a first start of 1,000 agents (about 20,000 fsyncs) waited on four
// at a time; 2,000 fsyncs took 0.58 s with 4 threads, 0.22 s with 16 on a 2-vCPU VM.
// A UV_THREADPOOL_SIZE set by the user wins.
process.env.UV_THREADPOOL_SIZE ??= "16";
