package metrics

import "github.com/prometheus/client_golang/prometheus"

// Collectors creates Prometheus collectors and registers each one with a Registerer as it is
// created (the Meter's, binding/ops' HTTP metrics). The first registration error is kept and
// reported by Err; the collectors after it are created but not registered. A nil Registerer
// only creates them, for a Collector that is registered as a whole later (HSMState).
type Collectors struct {
	reg prometheus.Registerer
	err error
}

// NewCollectors returns a Collectors registering with reg (nil: none).
func NewCollectors(reg prometheus.Registerer) *Collectors { return &Collectors{reg: reg} }

// Err returns the first registration error.
func (c *Collectors) Err() error { return c.err }

func (c *Collectors) register(col prometheus.Collector) {
	if c.reg != nil && c.err == nil {
		c.err = c.reg.Register(col)
	}
}

// Counter creates and registers a counter.
func (c *Collectors) Counter(name, help string) prometheus.Counter {
	m := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	c.register(m)
	return m
}

// CounterVec creates and registers a counter with the given labels.
func (c *Collectors) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	m := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	c.register(m)
	return m
}

// Gauge creates and registers a gauge.
func (c *Collectors) Gauge(name, help string) prometheus.Gauge {
	m := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	c.register(m)
	return m
}

// Histogram creates and registers a histogram with the given buckets.
func (c *Collectors) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	m := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	c.register(m)
	return m
}

// HistogramVec creates and registers a histogram with the given buckets and labels.
func (c *Collectors) HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	m := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	c.register(m)
	return m
}
