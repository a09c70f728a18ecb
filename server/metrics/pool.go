package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reads pgxpool.Stat at every scrape: saturation is acquired against max
// connections, and waiting shows as empty acquires and their wait time.
type poolCollector struct{ pool *pgxpool.Pool }

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("assistant_db_pool_"+name, help, nil, nil)
}

var (
	poolAcquired      = desc("acquired_connections", "Connections in use.")
	poolIdle          = desc("idle_connections", "Idle connections.")
	poolConstructing  = desc("constructing_connections", "Connections being opened.")
	poolTotal         = desc("total_connections", "Connections open or being opened.")
	poolMax           = desc("max_connections", "The pool's maximum size.")
	poolAcquires      = desc("acquires_total", "Successful acquires.")
	poolAcquireTime   = desc("acquire_seconds_total", "Time spent in successful acquires.")
	poolEmptyAcquires = desc("empty_acquires_total", "Acquires that had to wait for a connection.")
	poolEmptyWait     = desc("empty_acquire_wait_seconds_total", "Time spent waiting by acquires that found the pool empty.")
	poolCanceled      = desc("canceled_acquires_total", "Acquires cancelled by their context.")
	poolNew           = desc("new_connections_total", "Connections opened.")
	poolLifetime      = desc("max_lifetime_destroys_total", "Connections closed for their age.")
	poolIdleDestroys  = desc("max_idle_destroys_total", "Connections closed for being idle.")
)

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolConstructing, poolTotal, poolMax, poolAcquires,
		poolAcquireTime, poolEmptyAcquires, poolEmptyWait, poolCanceled, poolNew, poolLifetime, poolIdleDestroys} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(poolAcquired, float64(s.AcquiredConns()))
	gauge(poolIdle, float64(s.IdleConns()))
	gauge(poolConstructing, float64(s.ConstructingConns()))
	gauge(poolTotal, float64(s.TotalConns()))
	gauge(poolMax, float64(s.MaxConns()))
	counter(poolAcquires, float64(s.AcquireCount()))
	counter(poolAcquireTime, s.AcquireDuration().Seconds())
	counter(poolEmptyAcquires, float64(s.EmptyAcquireCount()))
	counter(poolEmptyWait, s.EmptyAcquireWaitTime().Seconds())
	counter(poolCanceled, float64(s.CanceledAcquireCount()))
	counter(poolNew, float64(s.NewConnsCount()))
	counter(poolLifetime, float64(s.MaxLifetimeDestroyCount()))
	counter(poolIdleDestroys, float64(s.MaxIdleDestroyCount()))
}
