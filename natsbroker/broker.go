package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamd/streamd/loop"
)

// Delivery is a sequenced message as the hub and its brokers carry it:
// Seq is the JetStream stream sequence, one sequence over all topics.
type Delivery = loop.Delivery

// A *Broker is the hub's broker (HubConfig.Broker).
var _ loop.Broker = (*Broker)(nil)

// Defaults of Options.
const (
	DefaultStream            = "STREAMD"
	DefaultSubjectPrefix     = "streamd"
	DefaultMaxMsgsPerTopic   = 10000
	DefaultMaxAge            = 24 * time.Hour
	DefaultDedupWindow       = 2 * time.Minute
	DefaultPublishTimeout    = 2 * time.Second
	DefaultRequestTimeout    = 5 * time.Second
	DefaultMaxFilterSubjects = 256
	DefaultHistoryLimit      = 1000
)

// Options configures a Broker. Every node sharing a stream must use the same
// Stream, SubjectPrefix and retention: New creates the stream or updates it
// to these options, so the last node started wins.
type Options struct {
	// Conn is an open connection to use; the Broker does not close it. It
	// should be made with nats.ReconnectBufSize(-1), or publishes made while
	// it reconnects wait in its buffer and may be stored after Publish gave
	// up (see ErrUnavailable). When nil, the Broker dials URLs.
	Conn *nats.Conn
	// URLs are the NATS servers to dial when Conn is nil.
	URLs []string
	// ConnOptions are applied after the Broker's own when it dials: a name,
	// nats.ReconnectBufSize(-1), endless reconnects every 250 ms.
	ConnOptions []nats.Option

	// Stream is the JetStream stream holding every topic. Default
	// DefaultStream.
	Stream string
	// SubjectPrefix: a topic's messages have the subject
	// "<SubjectPrefix>.t.<token>" (see appendToken) in Stream, its anchor (see
	// doc.go) "<SubjectPrefix>.a.<token>" in the stream "<Stream>_TOPICS".
	// Default DefaultSubjectPrefix.
	SubjectPrefix string
	// MaxMsgsPerTopic is how many messages a topic keeps (JetStream's
	// MaxMsgsPerSubject). Default DefaultMaxMsgsPerTopic; negative: no limit.
	MaxMsgsPerTopic int64
	// MaxAge is how long a message is kept. Default DefaultMaxAge; negative:
	// no limit.
	MaxAge time.Duration
	// Replicas is how many servers of a JetStream cluster hold each of the
	// two streams (the topics' and "<Stream>_TOPICS"): at most the cluster's
	// size; 3 keeps them available, nothing lost, while one server is down
	// (TestClusterReplicas3). Default 1; Embedded ignores it.
	Replicas int
	// MemoryStorage keeps the stream in memory instead of files.
	MemoryStorage bool
	// DedupWindow is how long JetStream remembers a Nats-Msg-Id. Default
	// DefaultDedupWindow; it must be longer than PublishTimeout.
	DedupWindow time.Duration

	// PublishTimeout bounds a Publish, retries included, when its context
	// has no earlier deadline. Default DefaultPublishTimeout.
	PublishTimeout time.Duration
	// RequestTimeout bounds New and History when their context has no
	// earlier deadline. Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxFilterSubjects: while at most this many topics are watched, the
	// consumer asks JetStream for exactly those; beyond, it takes every
	// topic and drops the unwatched ones itself (a consumer's filter list
	// travels in one request). Default DefaultMaxFilterSubjects.
	MaxFilterSubjects int

	// Logger receives the broker's logs. Default: none.
	Logger *slog.Logger
}

func (o *Options) setDefaults() error {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = DefaultSubjectPrefix
	}
	for _, tok := range strings.Split(o.SubjectPrefix, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n\f") {
			return fmt.Errorf("natsbroker: bad SubjectPrefix %q", o.SubjectPrefix)
		}
	}
	if o.MaxMsgsPerTopic == 0 {
		o.MaxMsgsPerTopic = DefaultMaxMsgsPerTopic
	} else if o.MaxMsgsPerTopic < 0 {
		o.MaxMsgsPerTopic = -1
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	} else if o.MaxAge < 0 {
		o.MaxAge = 0
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	if o.MaxAge > 0 && o.DedupWindow > o.MaxAge {
		o.DedupWindow = o.MaxAge // JetStream's rule
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = DefaultPublishTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxFilterSubjects <= 0 {
		o.MaxFilterSubjects = DefaultMaxFilterSubjects
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Conn == nil && len(o.URLs) == 0 {
		return errors.New("natsbroker: neither Conn nor URLs")
	}
	return nil
}

// Broker carries a hub's topics over one NATS JetStream stream. See the
// package documentation.
//
// # Concurrency
//
// Publish, History, Watch, Unwatch and Epoch are safe from any goroutine;
// Watch and Unwatch never block on the network. Start and Close are called
// once each.
type Broker struct {
	opts    Options
	log     *slog.Logger
	nc      *nats.Conn
	ownConn bool
	js      jetstream.JetStream
	epoch   string

	dataPrefix   string // "<prefix>.t."
	anchorPrefix string // "<prefix>.a."
	dataWildcard string // "<prefix>.t.*"
	directGet    string // "$JS.API.DIRECT.GET.<stream>"
	anchors      string // the anchors' stream, "<stream>_TOPICS"
	anchorGet    string // "$JS.API.DIRECT.GET.<stream>_TOPICS"
	anchorsFrom  uint64 // see initAnchors
	maxSeen      atomic.Uint64

	pubMu  sync.Mutex
	topics map[string]*topicState // see publish.go

	// Delivery state, under mu; see deliver.go.
	mu            sync.Mutex
	deliver       func(Delivery) error
	watched       map[string]struct{}
	version       uint64             // bumped by every change of watched
	lastDelivered uint64             // Seq of the last message handed to deliver (at first: the stream's last at New)
	cancelGen     context.CancelFunc // ends the current consumer generation
	wake          chan struct{}      // 1-buffered: watched changed or closing
	started       bool
	closed        bool
	done          chan struct{} // closed when the delivery goroutine exits
	quit          chan struct{} // closed by Close
}

// New connects (unless opts.Conn is set), creates or updates the stream and
// returns a Broker. Call Start before Watch.
func New(ctx context.Context, opts Options) (*Broker, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	b := &Broker{
		opts:         opts,
		log:          opts.Logger,
		nc:           opts.Conn,
		dataPrefix:   opts.SubjectPrefix + ".t.",
		anchorPrefix: opts.SubjectPrefix + ".a.",
		dataWildcard: opts.SubjectPrefix + ".t.*",
		directGet:    "$JS.API.DIRECT.GET." + opts.Stream,
		anchors:      opts.Stream + "_TOPICS",
		anchorGet:    "$JS.API.DIRECT.GET." + opts.Stream + "_TOPICS",
		topics:       make(map[string]*topicState),
		watched:      make(map[string]struct{}),
		wake:         make(chan struct{}, 1),
		done:         make(chan struct{}),
		quit:         make(chan struct{}),
	}
	if b.nc == nil {
		copts := append([]nats.Option{
			nats.Name("streamd"),
			// Fail publishes at once while reconnecting: a buffered one
			// could be stored after Publish returned ErrUnavailable.
			nats.ReconnectBufSize(-1),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(250 * time.Millisecond),
			nats.RetryOnFailedConnect(false),
		}, opts.ConnOptions...)
		nc, err := nats.Connect(strings.Join(opts.URLs, ","), copts...)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		b.nc, b.ownConn = nc, true
	}
	if err := b.init(ctx); err != nil {
		if b.ownConn {
			b.nc.Close()
		}
		return nil, err
	}
	return b, nil
}

func (b *Broker) init(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, b.opts.RequestTimeout)
	defer cancel()
	js, err := jetstream.New(b.nc)
	if err != nil {
		return err
	}
	b.js = js
	storage := jetstream.FileStorage
	if b.opts.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	cfg := jetstream.StreamConfig{
		Name:              b.opts.Stream,
		Description:       "streamd topics (github.com/streamd/streamd/natsbroker)",
		Subjects:          []string{b.dataWildcard},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: b.opts.MaxMsgsPerTopic,
		MaxAge:            b.opts.MaxAge,
		Storage:           storage,
		Replicas:          b.opts.Replicas,
		Duplicates:        b.opts.DedupWindow,
		AllowDirect:       true,
		// History's completeness rests on retention being the only thing
		// that removes messages (doc.go): no deletes, no purges.
		DenyDelete: true,
		DenyPurge:  true,
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return unavailable("create stream", err)
	}
	created := s.CachedInfo().Created
	if created.IsZero() {
		return errors.New("natsbroker: stream has no creation time")
	}
	b.epoch = strconv.FormatInt(created.UnixNano(), 36)
	// Deliveries start after what the stream holds now: older messages are
	// History's (a node joining must not replay the stream to its hub).
	b.lastDelivered = s.CachedInfo().State.LastSeq
	b.noteSeq(b.lastDelivered)
	return b.initAnchors(ctx, cfg)
}

// Epoch names the stream's sequence: its creation time in nanoseconds,
// base 36. Every node sharing the stream, and every restart of streamd or of
// a NATS server keeping the stream's files, sees the same epoch; a stream
// deleted and created again has a new one. Safe from any goroutine.
func (b *Broker) Epoch() string { return b.epoch }

// Conn returns the broker's NATS connection.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// Close stops deliveries, waits for the delivery goroutine to exit (it may be
// inside a JetStream request, bounded by RequestTimeout), deletes its
// consumer and closes the connection if the broker dialled it. It returns
// ErrClosed when called again. Do not call it from deliver: it waits for
// the goroutine that calls deliver.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.closed = true
	close(b.quit)
	started := b.started
	if b.cancelGen != nil {
		b.cancelGen()
	}
	b.signal()
	b.mu.Unlock()
	if started {
		<-b.done
	}
	if b.ownConn {
		b.nc.Close()
	}
	return nil
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// withDefaultTimeout bounds ctx by d unless it already ends sooner.
func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// unavailable wraps err with ErrUnavailable when it says that NATS or
// JetStream could not be reached, and returns it with context otherwise.
func unavailable(what string, err error) error {
	if isUnavailable(err) {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
	}
	return fmt.Errorf("natsbroker: %s: %w", what, err)
}

func isUnavailable(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrConnectionDraining) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, errDisconnected)
}

var errDisconnected = errors.New("not connected")
