package auth_test

import (
	"context"
	"runtime"
	"testing"

	"provisioning/auth"
)

// BenchmarkLoginArgon2id is the cost of a login's password check with the
// parameters in use (OWASP: 19 MiB, 2 passes, 1 lane), from as many
// goroutines as CPUs through the hasher's bound; logins/s is the
// throughput one instance can give to logins.
func BenchmarkLoginArgon2id(b *testing.B) {
	h := auth.NewHasher(auth.DefaultArgon2, 0)
	hash, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4) // more callers than slots: they queue
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := h.Verify(context.Background(), hash, "correct horse battery staple"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	b.ReportMetric(float64(runtime.NumCPU()), "hash-slots")
}
