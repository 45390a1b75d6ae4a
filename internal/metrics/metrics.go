// Package metrics defines Sapient's Prometheus metrics.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the collectors the handlers update.
type Metrics struct {
	TokenRequests *prometheus.CounterVec   // by outcome
	TokenLatency  prometheus.Histogram     // seconds per token request
	TokenChecks   *prometheus.CounterVec   // bearer token checks by outcome
	HTTPLatency   *prometheus.HistogramVec // by route
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		TokenRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sapient_token_requests_total",
			Help: "Token endpoint requests by outcome (issued or the OAuth error code).",
		}, []string{"outcome"}),
		TokenLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sapient_token_request_duration_seconds",
			Help:    "Time to answer a token endpoint request.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
		TokenChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sapient_token_checks_total",
			Help: "Bearer token checks on protected endpoints by outcome.",
		}, []string{"outcome"}),
		HTTPLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sapient_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method (the standard methods by name, any other as \"other\").",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.TokenRequests, m.TokenLatency, m.TokenChecks, m.HTTPLatency)
	return m
}

// NewRedisUp creates and registers on reg the gauge that tells whether
// Redis, through which instances share their limits, answers (1) or not
// (0). Only an instance configured with Redis has it.
func NewRedisUp(reg prometheus.Registerer) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sapient_redis_up",
		Help: "Whether Redis answers (1) or not (0); while it does not, rate limits and login throttles are per instance.",
	})
	reg.MustRegister(g)
	return g
}
