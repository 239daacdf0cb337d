package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"fengqiao/bench/loadgen"
	"fengqiao/internal/scoring"
	"fengqiao/signals"
)

// subjectKeys are a subject's own keys, as internal/scoring names them.
var subjectKeys = []string{"idx", "events", "state", "history", "links"}

var countedKey = "fq:{board}:counted:" + scoring.DefaultCountTier.String()

// SubjectMemory is what subjects of one kind cost in Redis: their own keys
// (MEMORY USAGE, exact) and their share of the counts index.
type SubjectMemory struct {
	Kind      string
	Sampled   int
	P50, P90  float64         // bytes per subject
	Signals50 float64         // signals kept per subject, median
	BySignals map[int]float64 // median bytes of subjects with 1, 2, 3… signals
	ByKey     []float64       // median bytes of each of subjectKeys, then the counts index share
	// Assessment is the median size of the stored assessment (JSON).
	Assessment float64
	// P50Listpack is P50 once Redis keeps hashes with values up to 1 KiB
	// compactly (hash-max-listpack-value 1024, against 64 by default).
	P50Listpack float64
}

func (m SubjectMemory) String() string {
	s := fields("kind", m.Kind, "sampled", m.Sampled, "bytes_p50", m.P50, "bytes_p90", m.P90, "signals_p50", m.Signals50)
	var by []string
	for n := 1; n <= 4; n++ {
		if b, ok := m.BySignals[n]; ok {
			by = append(by, fmt.Sprintf("%d:%.0f", n, b))
		}
	}
	var keys []string
	for i, b := range m.ByKey {
		name := "counted"
		if i < len(subjectKeys) {
			name = subjectKeys[i]
		}
		keys = append(keys, fmt.Sprintf("%s:%.0f", name, b))
	}
	return s + " bytes_by_signals=" + strings.Join(by, ",") + " median_bytes_by_key=" + strings.Join(keys, ",") +
		fmt.Sprintf(" assessment_json_bytes=%.0f bytes_p50_listpack_1024=%.0f", m.Assessment, m.P50Listpack)
}

// MeasureSubjects samples up to n subjects of kind ("p" or "d").
func MeasureSubjects(ctx context.Context, rdb *redis.Client, kind string, n int) (SubjectMemory, error) {
	m := SubjectMemory{Kind: map[string]string{"p": "person", "d": "dispute"}[kind], BySignals: map[int]float64{}}
	var prefixes []string
	iter := rdb.Scan(ctx, 0, "fq:{"+kind+":*}:state", 1000).Iterator()
	for iter.Next(ctx) && len(prefixes) < n {
		prefixes = append(prefixes, strings.TrimSuffix(iter.Val(), "state"))
	}
	if err := iter.Err(); err != nil {
		return m, err
	}
	if len(prefixes) == 0 {
		return m, fmt.Errorf("no %s subjects in the store", m.Kind)
	}
	// The counts index holds one field per subject: its share is the hash's
	// size over its fields.
	share := 0.0
	if total, err := rdb.MemoryUsage(ctx, countedKey, 0).Result(); err == nil {
		if fieldsN, err := rdb.HLen(ctx, countedKey).Result(); err == nil && fieldsN > 0 {
			share = float64(total) / float64(fieldsN)
		}
	}
	pipe := rdb.Pipeline()
	usage := make([][]*redis.IntCmd, len(prefixes))
	cards := make([]*redis.IntCmd, len(prefixes))
	assessments := make([]*redis.StringCmd, len(prefixes))
	for i, p := range prefixes {
		assessments[i] = pipe.HGet(ctx, p+"state", "assessment")
		for _, k := range subjectKeys {
			usage[i] = append(usage[i], pipe.MemoryUsage(ctx, p+k, 0))
		}
		cards[i] = pipe.ZCard(ctx, p+"idx")
	}
	_, _ = pipe.Exec(ctx) // MEMORY USAGE of a missing key is nil: counted as 0
	var all []float64
	by := map[int][]float64{}
	var sigs []float64
	perKey := make([][]float64, len(subjectKeys))
	var aSizes []float64
	for i := range prefixes {
		if a := assessments[i].Val(); a != "" {
			aSizes = append(aSizes, float64(len(a)))
		}
		b := share
		for j, c := range usage[i] {
			b += float64(c.Val())
			perKey[j] = append(perKey[j], float64(c.Val()))
		}
		all = append(all, b)
		k := int(cards[i].Val())
		by[k] = append(by[k], b)
		sigs = append(sigs, float64(k))
	}
	slices.Sort(all)
	slices.Sort(sigs)
	m.Sampled = len(all)
	m.P50, m.P90 = loadgen.Percentile(all, 50), loadgen.Percentile(all, 90)
	m.Signals50 = loadgen.Percentile(sigs, 50)
	for _, v := range perKey {
		m.ByKey = append(m.ByKey, loadgen.Median(v))
	}
	m.Assessment = loadgen.Median(aSizes)
	m.ByKey = append(m.ByKey, share)
	for k, v := range by {
		if len(v) >= 5 {
			m.BySignals[k] = loadgen.Median(v)
		}
	}
	var err error
	m.P50Listpack, err = listpacked(ctx, rdb, prefixes, share)
	return m, err
}

// listpacked re-encodes the sampled subjects' hashes as Redis would keep
// them with hash-max-listpack-value 1024 (DUMP, then RESTORE, which encodes
// anew under the setting in force) and returns their median size. It leaves
// the setting as it found it.
func listpacked(ctx context.Context, rdb *redis.Client, prefixes []string, share float64) (float64, error) {
	was, err := rdb.ConfigGet(ctx, "hash-max-listpack-value").Result()
	if err != nil {
		return 0, err
	}
	if err := rdb.ConfigSet(ctx, "hash-max-listpack-value", "1024").Err(); err != nil {
		return 0, err
	}
	defer rdb.ConfigSet(ctx, "hash-max-listpack-value", was["hash-max-listpack-value"])
	sizes := make([]float64, 0, len(prefixes))
	for _, p := range prefixes {
		b := share
		for _, k := range subjectKeys {
			if v, err := rdb.Dump(ctx, p+k).Result(); err == nil {
				if err := rdb.RestoreReplace(ctx, p+k, 0, v).Err(); err != nil {
					return 0, err
				}
			}
			u, _ := rdb.MemoryUsage(ctx, p+k, 0).Result()
			b += float64(u)
		}
		sizes = append(sizes, b)
	}
	slices.Sort(sizes)
	return loadgen.Percentile(sizes, 50), nil
}

// UsedMemory is Redis's used_memory, in bytes.
func UsedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no used_memory in INFO memory")
}

// SignalMemory is what each signal leaves outside its subjects: its entry in
// the stream (kept stream_retention_days) and its idempotency key (kept
// signal_keep_days), per signal, over a stream of the given shards.
func SignalMemory(ctx context.Context, rdb *redis.Client, shards int) (stream, seen float64, err error) {
	var n, s int64
	for _, st := range signals.ShardedStreams(shards) {
		l, err := rdb.XLen(ctx, st.Key).Result()
		if err != nil {
			return 0, 0, err
		}
		u, err := rdb.MemoryUsage(ctx, st.Key, 0).Result()
		if err != nil {
			return 0, 0, err
		}
		n, s = n+l, s+u
	}
	if n == 0 {
		return 0, 0, nil
	}
	var keys []string
	iter := rdb.Scan(ctx, 0, "fq:{signals*}:seen:*", 1000).Iterator()
	for iter.Next(ctx) && len(keys) < 200 {
		keys = append(keys, iter.Val())
	}
	total := int64(0)
	for _, k := range keys {
		u, _ := rdb.MemoryUsage(ctx, k, 0).Result()
		total += u
	}
	if len(keys) > 0 {
		seen = float64(total) / float64(len(keys))
	}
	return float64(s) / float64(n), seen, iter.Err()
}
