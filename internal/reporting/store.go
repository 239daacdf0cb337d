// Package reporting runs the duty system's reports over Redis: units file
// their zero reports (零报告), the check job finds the late and missing
// ones and alerts them, compliance is reported per unit and rolled up per
// parent, and the daily report (日报) is made, stored and sent up.
package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/schedule"
)

// Keys, under the {reports} tag.
const (
	keyZero  = "fq:{reports}:zero:"  // + checkpoint id: hash unit → filing
	keyDaily = "fq:{reports}:daily:" // + unit:date: the daily report
)

// keep is how long filings and daily reports are kept.
const keep = 400 * 24 * time.Hour

// store keeps filings and daily reports.
type store struct{ rdb redis.UniversalClient }

// file stores a filing. A unit filing again for the same checkpoint revises
// its report; the first filing's time stays, so a late report is not made
// on time by a correction.
func (s store) file(ctx context.Context, f schedule.ZeroReportFiling) (schedule.ZeroReportFiling, error) {
	key := keyZero + f.Checkpoint
	err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		old, err := tx.HGet(ctx, key, f.Unit).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return err
		default:
			var prev schedule.ZeroReportFiling
			if json.Unmarshal(old, &prev) == nil {
				revised := f.FiledAt
				f.FiledAt, f.RevisedAt = prev.FiledAt, &revised
			}
		}
		b, _ := json.Marshal(f)
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, key, f.Unit, b)
			p.Expire(ctx, key, keep)
			return nil
		})
		return err
	}, key)
	if err != nil {
		return f, fmt.Errorf("store the zero report: %w", err)
	}
	return f, nil
}

// filings returns every filing for a checkpoint, by unit.
func (s store) filings(ctx context.Context, checkpoint string) (map[string]*schedule.ZeroReportFiling, error) {
	m, err := s.rdb.HGetAll(ctx, keyZero+checkpoint).Result()
	if err != nil {
		return nil, fmt.Errorf("read zero reports: %w", err)
	}
	out := make(map[string]*schedule.ZeroReportFiling, len(m))
	for unit, v := range m {
		var f schedule.ZeroReportFiling
		if json.Unmarshal([]byte(v), &f) == nil {
			out[unit] = &f
		}
	}
	return out, nil
}

func (s store) saveDaily(ctx context.Context, d *schedule.Daily) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.rdb.Set(ctx, keyDaily+d.Unit+":"+d.Date, b, keep).Err()
}

// ErrNoReport is a daily report that was not made.
var ErrNoReport = errors.New("no daily report for that unit and date")

func (s store) daily(ctx context.Context, unit, date string) (*schedule.Daily, error) {
	b, err := s.rdb.Get(ctx, keyDaily+unit+":"+date).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNoReport
	}
	if err != nil {
		return nil, fmt.Errorf("read the daily report: %w", err)
	}
	var d schedule.Daily
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode the daily report: %w", err)
	}
	return &d, nil
}
