package loop

// closeReason records why the loop closed a connection; Mode.OnClose gets
// the matching error and Stats counts each.
type closeReason uint8

const (
	reasonNone          closeReason = iota // not decided yet
	reasonApp                              // the application (a handler, a stream) or the end of an HTTP exchange
	reasonPeer                             // the peer closed or reset the connection
	reasonIdle                             // Config.IdleTimeout
	reasonHeaderTimeout                    // Config.ReadHeaderTimeout
	reasonReadTimeout                      // Config.ReadTimeout
	reasonWriteTimeout                     // Config.WriteTimeout
	reasonInputOverflow                    // Config.MaxPendingInput
	reasonOverloaded                       // Config.MaxBufferedInput
	reasonBadRequest                       // a malformed request (answered 4xx)
	reasonShutdown                         // graceful shutdown
	reasonTLS                              // a bad TLS record or alert from the client
	reasonReplyTimeout                     // Config.ReplyTimeout
	numReasons
)

var reasonNames = [numReasons]string{
	reasonNone:          "none",
	reasonApp:           "app",
	reasonPeer:          "peer",
	reasonIdle:          "idle_timeout",
	reasonHeaderTimeout: "header_timeout",
	reasonReadTimeout:   "read_timeout",
	reasonWriteTimeout:  "write_timeout",
	reasonInputOverflow: "input_overflow",
	reasonOverloaded:    "input_budget",
	reasonBadRequest:    "bad_request",
	reasonShutdown:      "shutdown",
	reasonTLS:           "tls_error",
	reasonReplyTimeout:  "reply_timeout",
}

var reasonErrs = [numReasons]error{
	reasonIdle:          ErrIdleTimeout,
	reasonHeaderTimeout: ErrHeaderTimeout,
	reasonReadTimeout:   ErrReadTimeout,
	reasonWriteTimeout:  ErrWriteTimeout,
	reasonInputOverflow: ErrInputOverflow,
	reasonOverloaded:    ErrOverloaded,
	reasonBadRequest:    ErrBadRequest,
	reasonShutdown:      ErrShutdown,
	reasonTLS:           ErrTLS,
	reasonReplyTimeout:  ErrReplyTimeout,
}

func (r closeReason) err() error { return reasonErrs[r] }

// decided returns r, or the reason implied by gnet's error when the loop
// recorded none: the peer's doing when there is an error, else ours.
func (r closeReason) decided(err error) closeReason {
	switch {
	case r != reasonNone:
		return r
	case err != nil:
		return reasonPeer
	default:
		return reasonApp
	}
}
