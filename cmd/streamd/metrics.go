package main

import (
	"bytes"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/streamd/streamd/loop"
)

// statsCollector exports the server's and the hub's counters, read at
// scrape time (no per-request metric updates on the loops).
type statsCollector struct {
	srv *loop.Server
	hub *loop.Hub

	open, accepted, requests, refused, badRequests *prometheus.Desc
	acceptErrors, closes                           *prometheus.Desc
	tlsHandshakes, tlsHandshaking, tlsWaiting      *prometheus.Desc
	subscribers, published, deliveries             *prometheus.Desc
}

func newStatsCollector(srv *loop.Server, hub *loop.Hub) *statsCollector {
	return &statsCollector{
		srv:         srv,
		hub:         hub,
		open:        prometheus.NewDesc("streamd_connections_open", "Open client connections.", nil, nil),
		accepted:    prometheus.NewDesc("streamd_connections_accepted_total", "Accepted connections.", nil, nil),
		refused:     prometheus.NewDesc("streamd_connections_refused_total", "Connections refused at MaxConns or during shutdown.", nil, nil),
		requests:    prometheus.NewDesc("streamd_requests_total", "HTTP requests parsed and routed.", nil, nil),
		badRequests: prometheus.NewDesc("streamd_bad_requests_total", "Requests rejected by the HTTP parser.", nil, nil),
		acceptErrors: prometheus.NewDesc("streamd_accept_errors_total",
			"Failed accept(2) calls (EMFILE and the like), each retried after a backoff.", nil, nil),
		closes: prometheus.NewDesc("streamd_connections_closed_total",
			"Closed connections by reason: app, peer, idle_timeout, header_timeout, read_timeout, write_timeout, input_overflow, input_budget, bad_request, shutdown, tls_error, reply_timeout.",
			[]string{"reason"}, nil),
		tlsHandshakes: prometheus.NewDesc("streamd_tls_handshakes_total",
			"TLS handshakes by result: ok, failed (a bad or silent client, the handshake timeout, shutdown).", []string{"result"}, nil),
		tlsHandshaking: prometheus.NewDesc("streamd_tls_handshakes_in_flight", "TLS handshakes running now.", nil, nil),
		tlsWaiting: prometheus.NewDesc("streamd_tls_handshakes_waiting",
			"TLS handshakes whose client sent data, waiting for one of the slots that bound the handshakes computing at once (loop.Config.MaxTLSHandshakes).", nil, nil),
		subscribers: prometheus.NewDesc("streamd_topic_subscribers", "Subscribers of a topic.", []string{"topic"}, nil),
		published:   prometheus.NewDesc("streamd_topic_published_total", "Messages published to a topic.", []string{"topic"}, nil),
		deliveries: prometheus.NewDesc("streamd_topic_deliveries_total",
			"Deliveries to subscribers by outcome: written, queued (above the high watermark), dropped, conflated, closed (slow subscriber closed).",
			[]string{"topic", "outcome"}, nil),
	}
}

func (s *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(s, ch)
}

func (s *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := s.srv.Stats()
	ch <- prometheus.MustNewConstMetric(s.open, prometheus.GaugeValue, float64(st.Open))
	ch <- prometheus.MustNewConstMetric(s.accepted, prometheus.CounterValue, float64(st.Accepted))
	ch <- prometheus.MustNewConstMetric(s.refused, prometheus.CounterValue, float64(st.Refused))
	ch <- prometheus.MustNewConstMetric(s.requests, prometheus.CounterValue, float64(st.Requests))
	ch <- prometheus.MustNewConstMetric(s.badRequests, prometheus.CounterValue, float64(st.BadRequests))
	ch <- prometheus.MustNewConstMetric(s.acceptErrors, prometheus.CounterValue, float64(st.AcceptErrors))
	ch <- prometheus.MustNewConstMetric(s.tlsHandshakes, prometheus.CounterValue, float64(st.TLSHandshakes), "ok")
	ch <- prometheus.MustNewConstMetric(s.tlsHandshakes, prometheus.CounterValue, float64(st.TLSHandshakeErrors), "failed")
	ch <- prometheus.MustNewConstMetric(s.tlsHandshaking, prometheus.GaugeValue, float64(st.TLSHandshaking))
	ch <- prometheus.MustNewConstMetric(s.tlsWaiting, prometheus.GaugeValue, float64(st.TLSHandshakeWaiting))
	for reason, n := range st.Closes {
		ch <- prometheus.MustNewConstMetric(s.closes, prometheus.CounterValue, float64(n), reason)
	}
	for _, topic := range s.hub.Topics() {
		ts := s.hub.TopicStats(topic)
		ch <- prometheus.MustNewConstMetric(s.subscribers, prometheus.GaugeValue, float64(ts.Subscribers), topic)
		ch <- prometheus.MustNewConstMetric(s.published, prometheus.CounterValue, float64(ts.Published), topic)
		for _, o := range []struct {
			name string
			v    int64
		}{{"written", ts.Written}, {"queued", ts.Queued}, {"dropped", ts.Dropped}, {"conflated", ts.Conflated}, {"closed", ts.Closed}} {
			ch <- prometheus.MustNewConstMetric(s.deliveries, prometheus.CounterValue, float64(o.v), topic, o.name)
		}
	}
}

// metrics serves the Prometheus text format. Gathering allocates and
// takes locks, so it runs off the loop and answers through Defer.
func (a *app) metrics() func(*loop.Ctx) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newStatsCollector(a.srv.Server, a.hub),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return func(c *loop.Ctx) {
		d := c.Defer()
		go func() {
			mfs, err := reg.Gather()
			if err != nil {
				_ = d.Text(500, "gathering metrics failed: "+err.Error()+"\n")
				return
			}
			var buf bytes.Buffer
			enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, mf := range mfs {
				if err := enc.Encode(mf); err != nil {
					_ = d.Text(500, "encoding metrics failed: "+err.Error()+"\n")
					return
				}
			}
			_ = d.Reply(200, string(expfmt.NewFormat(expfmt.TypeTextPlain)), buf.Bytes())
		}()
	}
}
