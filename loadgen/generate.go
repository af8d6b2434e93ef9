package loadgen

import (
	"math/rand/v2"
	"sort"
	"strconv"
)

// randomPoolBytes is the size of the random bytes payloads are cut from. A
// pool larger than a compressor's usual window (zstd's default is 8 MiB at
// high levels, but lz4/snappy/gzip use 64 KiB or less) keeps the random part
// incompressible in practice while costing one allocation per producer.
const randomPoolBytes = 1 << 20

// generator makes one producer's messages: their topics, keys, sizes and
// payloads. It is used by one goroutine.
type generator struct {
	rnd      *rand.Rand
	topics   []string
	next     int // round-robin topic index
	size     func() int
	key      func() []byte
	pool     []byte
	poolOff  int
	compress float64
}

func newGenerator(w Workload, seed uint64, topics []string) *generator {
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &generator{rnd: rnd, topics: topics, compress: w.Compressibility}
	g.pool = make([]byte, randomPoolBytes)
	for i := 0; i < len(g.pool); i += 8 {
		v := rnd.Uint64()
		for j := 0; j < 8 && i+j < len(g.pool); j++ {
			g.pool[i+j] = byte(v >> (8 * j))
		}
	}
	g.size = sizeSampler(w.MessageSize, rnd)
	g.key = keySampler(w.Keys, rnd)
	return g
}

func sizeSampler(s SizeDist, rnd *rand.Rand) func() int {
	switch {
	case s.Uniform != nil:
		lo, n := s.Uniform.Min, s.Uniform.Max-s.Uniform.Min+1
		return func() int { return lo + rnd.IntN(n) }
	case s.Weighted != nil:
		cum := make([]float64, len(s.Weighted))
		total := 0.0
		for i, e := range s.Weighted {
			total += e.Weight
			cum[i] = total
		}
		return func() int {
			x := rnd.Float64() * total
			i := sort.SearchFloat64s(cum, x)
			if i == len(cum) { // x == total after rounding
				i--
			}
			return s.Weighted[i].Size
		}
	}
	n := s.Fixed
	return func() int { return n }
}

func keySampler(k KeyDist, rnd *rand.Rand) func() []byte {
	key := func(i uint64) []byte { return strconv.AppendUint([]byte("key-"), i, 10) }
	switch k.Distribution {
	case KeysUniform:
		n := uint64(k.Count)
		return func() []byte { return key(rnd.Uint64N(n)) }
	case KeysZipf:
		z := rand.NewZipf(rnd, k.S, 1, uint64(k.Count-1))
		return func() []byte { return key(z.Uint64()) }
	}
	return func() []byte { return nil }
}

// message returns the next message, its payload starting with h.
func (g *generator) message(h Header) Message {
	n := g.size()
	v := make([]byte, n)
	PutHeader(v, h)
	body := v[HeaderSize:]
	random := len(body) - int(float64(len(body))*g.compress+0.5)
	for filled := 0; filled < random; {
		if g.poolOff == len(g.pool) {
			g.poolOff = 0
		}
		c := copy(body[filled:random], g.pool[g.poolOff:])
		filled += c
		g.poolOff += c
	}
	// The rest stays zero: the compressible fraction.
	t := g.topics[g.next]
	g.next = (g.next + 1) % len(g.topics)
	return Message{Topic: t, Key: g.key(), Value: v}
}
