package api

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// clientAddress is the address a request came from, as rate limits, login
// throttling and the access log count it. Without trusted proxies it is the
// socket's peer. Behind trusted proxies (Options.TrustedProxies) it is the
// right-most address of X-Forwarded-For that is not itself a trusted proxy:
// each proxy appends the peer it saw, so everything left of that entry was
// written by the client and could be forged (a client sending
// "X-Forwarded-For: 127.0.0.1" must not get a fresh rate-limit bucket, or look
// local). The first-run setup never uses it: it asks for the socket's own
// loopback peer.
func (s *Server) clientAddress(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer.String()
	}
	// A proxy may append its hop to the header's value or add a header
	// line of its own (HAProxy): the hops are every line's, in order.
	var hops []string
	for _, line := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		hops = append(hops, strings.Split(string(line), ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A hop a trusted proxy would never write: what lies left of
			// it cannot be told apart from forgery, so stop at the last
			// address known good.
			return peer.String()
		}
		peer = hop.Unmap()
		if !s.trusted(peer) {
			return peer.String()
		}
	}
	return peer.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads a comma-separated list of addresses and CIDR
// prefixes ("10.0.0.0/8, 192.0.2.7") for Options.TrustedProxies.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, &net.ParseError{Type: "IP address or CIDR prefix", Text: part}
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
