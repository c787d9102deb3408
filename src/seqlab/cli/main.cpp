#include <cstdio>
int main() { std::puts("seqlab"); return 0; }
