package loop

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// maxParams bounds path parameters per route; Ctx stores them inline.
const maxParams = 8

// HandlerFunc handles one request on the loop. It must not block: slow
// work goes to a goroutine that answers through Ctx.Defer.
type HandlerFunc func(*Ctx)

type param struct {
	name  string
	start int32 // offsets into the request path
	end   int32
}

type route struct {
	segments []string // literal segments; "" where a parameter sits
	isParam  []bool   // isParam[i]: segment i is a parameter
	params   []string // parameter names, in order
	handler  HandlerFunc
}

// router matches method + path: exact paths through a table (string(b)
// lookups do not allocate), parameter patterns segment by segment.
type router struct {
	exact map[string]*exactRoute // path → its handlers
	// byLen holds the exact routes with paths shorter than len(byLen), by
	// path length, while there are at most maxLenBucket of one length: the
	// common lookup is then one length index and a string compare instead
	// of hashing. Longer paths and crowded lengths use exact.
	byLen   [64][]*exactRoute
	pattern []patternRoute
}

// maxLenBucket is the most exact routes of one path length that lookup
// compares one by one before it uses the map.
const maxLenBucket = 4

// exactRoute holds the handlers of one exact path. The common methods have
// their own fields, so looking one up is a switch, not a second map lookup.
type exactRoute struct {
	path      string
	get, head HandlerFunc
	post      HandlerFunc
	methods   map[string]HandlerFunc // every method, for Allow and the rare ones
}

// handler returns the handler for method; HEAD falls back to GET.
func (e *exactRoute) handler(method []byte) HandlerFunc {
	switch string(method) {
	case "GET":
		return e.get
	case "HEAD":
		if e.head != nil {
			return e.head
		}
		return e.get
	case "POST":
		return e.post
	}
	return e.methods[string(method)]
}

// findExact returns the exact route for path, or nil.
func (r *router) findExact(path []byte) *exactRoute {
	if n := len(path); n < len(r.byLen) {
		if b := r.byLen[n]; len(b) <= maxLenBucket {
			for _, e := range b {
				if e.path == string(path) {
					return e
				}
			}
			return nil
		}
	}
	return r.exact[string(path)]
}

type patternRoute struct {
	method string
	route
}

func newRouter() *router {
	return &router{exact: make(map[string]*exactRoute)}
}

// add registers a handler. Patterns are "/exact/path" or segments with
// ":name" parameters ("/users/:id/posts/:post"). It panics on malformed
// or duplicate routes: these are programmer errors found at start-up.
func (r *router) add(method, pattern string, h HandlerFunc) {
	if method == "" || h == nil || !strings.HasPrefix(pattern, "/") {
		panic(fmt.Sprintf("BUG: loop: bad route %q %q", method, pattern))
	}
	if !strings.Contains(pattern, "/:") {
		e := r.exact[pattern]
		if e == nil {
			e = &exactRoute{path: pattern, methods: make(map[string]HandlerFunc)}
			r.exact[pattern] = e
			if n := len(pattern); n < len(r.byLen) {
				r.byLen[n] = append(r.byLen[n], e)
			}
		}
		if _, dup := e.methods[method]; dup {
			panic(fmt.Sprintf("BUG: loop: duplicate route %s %s", method, pattern))
		}
		e.methods[method] = h
		switch method {
		case "GET":
			e.get = h
		case "HEAD":
			e.head = h
		case "POST":
			e.post = h
		}
		return
	}
	segs := strings.Split(pattern[1:], "/")
	rt := route{segments: make([]string, len(segs)), isParam: make([]bool, len(segs)), handler: h}
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			rt.isParam[i] = true
			if len(s) == 1 {
				panic(fmt.Sprintf("BUG: loop: empty parameter name in %q", pattern))
			}
			rt.params = append(rt.params, s[1:])
			continue
		}
		rt.segments[i] = s
	}
	if len(rt.params) > maxParams {
		panic(fmt.Sprintf("BUG: loop: more than %d parameters in %q", maxParams, pattern))
	}
	for _, p := range r.pattern {
		if p.method == method && slices.Equal(p.segments, rt.segments) && slices.Equal(p.isParam, rt.isParam) {
			panic(fmt.Sprintf("BUG: loop: duplicate route %s %s", method, pattern))
		}
	}
	r.pattern = append(r.pattern, patternRoute{method: method, route: rt})
}

// lookup finds the handler for method and path and fills params.
// pathFound reports whether the path exists for some method (405 vs 404).
// HEAD falls back to the GET handler; the response writer omits the body.
func (r *router) lookup(method, path []byte, params *[maxParams]param, nparams *int) (h HandlerFunc, pathFound bool) {
	if e := r.findExact(path); e != nil {
		if h = e.handler(method); h != nil {
			return h, true
		}
		// A pattern may still serve this method ("/users/me" for GET
		// only, "/users/:id" for DELETE): allowed lists both.
		pathFound = true
	}
	for i := range r.pattern {
		pr := &r.pattern[i]
		if !matchPattern(&pr.route, path, params, nparams) {
			continue
		}
		pathFound = true
		if pr.method == string(method) {
			return pr.handler, true
		}
	}
	if pathFound && string(method) == "HEAD" {
		return r.lookup([]byte("GET"), path, params, nparams)
	}
	return nil, pathFound
}

// allowed lists the methods registered for path, for a 405 Allow header.
func (r *router) allowed(path []byte) string {
	var methods []string
	if e := r.findExact(path); e != nil {
		for k := range e.methods {
			methods = append(methods, k)
		}
	}
	var params [maxParams]param
	var n int
	for i := range r.pattern {
		if matchPattern(&r.pattern[i].route, path, &params, &n) {
			methods = append(methods, r.pattern[i].method)
		}
	}
	if slices.Contains(methods, "GET") {
		methods = append(methods, "HEAD") // served by the GET handler
	}
	slices.Sort(methods)
	return strings.Join(slices.Compact(methods), ", ")
}

func matchPattern(rt *route, path []byte, params *[maxParams]param, nparams *int) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	n := 0
	pos := 1
	for i, lit := range rt.segments {
		end := pos
		for end < len(path) && path[end] != '/' {
			end++
		}
		seg := path[pos:end]
		if rt.isParam[i] {
			if len(seg) == 0 {
				return false
			}
			params[n] = param{name: rt.params[n], start: int32(pos), end: int32(end)}
			n++
		} else if string(seg) != lit {
			return false
		}
		last := i == len(rt.segments)-1
		if last {
			if end != len(path) {
				return false
			}
		} else if end == len(path) {
			return false
		}
		pos = end + 1
	}
	*nparams = n
	return true
}

// originPath returns the path of an absolute-form request-target
// ("http://host:port/p" → "/p", "http://host" → "/"), or target itself
// when it is not one (asterisk- or authority-form: no route matches).
func originPath(target []byte) []byte {
	i := bytes.Index(target, []byte("://"))
	if i <= 0 {
		return target
	}
	for _, c := range target[:i] { // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
		if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return target
		}
	}
	rest := target[i+3:]
	if j := bytes.IndexByte(rest, '/'); j >= 0 {
		return rest[j:]
	}
	return []byte("/")
}
