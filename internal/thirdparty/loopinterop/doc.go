// Package loopinterop tests streamd's loop package, the HTTP/1.1 side of
// the reactor, with HTTP clients written by others: fasthttp's
// PipelineClient, which pipelines many requests on each connection.
//
// It has no code of its own, only tests. It lives in the nested
// internal/thirdparty module so that those clients never become
// requirements of the library module.
package loopinterop
