package loop

// closeReason records why the loop closed a connection; Mode.OnClose gets
// the matching error and Stats counts each.
type closeReason uint8

const (
	reasonNone          closeReason = iota // closed by the application (a handler, a stream)
	reasonPeer                             // the peer closed or reset the connection
	reasonIdle                             // Config.IdleTimeout
	reasonHeaderTimeout                    // Config.ReadHeaderTimeout
	reasonReadTimeout                      // Config.ReadTimeout
	reasonWriteTimeout                     // Config.WriteTimeout
	reasonInputOverflow                    // Config.MaxPendingInput
	reasonOverloaded                       // Config.MaxBufferedInput
	reasonBadRequest                       // a malformed request (answered 4xx)
	reasonShutdown                         // graceful shutdown
	numReasons
)

var reasonNames = [numReasons]string{
	reasonNone:          "app",
	reasonPeer:          "peer",
	reasonIdle:          "idle_timeout",
	reasonHeaderTimeout: "header_timeout",
	reasonReadTimeout:   "read_timeout",
	reasonWriteTimeout:  "write_timeout",
	reasonInputOverflow: "input_overflow",
	reasonOverloaded:    "input_budget",
	reasonBadRequest:    "bad_request",
	reasonShutdown:      "shutdown",
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
}

func (r closeReason) err() error { return reasonErrs[r] }
