// Package wsinterop tests streamd's ws package against WebSocket clients
// written by others: gorilla/websocket, fasthttp/websocket and
// coder/websocket, each with and without permessage-deflate, against an
// echo socket, a pinging socket and a hub chat.
//
// It has no code of its own, only tests. It lives in the nested
// internal/thirdparty module so that those clients never become
// requirements of the library module.
package wsinterop
