package xmlsafe

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// TestNoOutboundConnections feeds external-entity and parameter-entity inputs that point at a
// loopback listener to Check and Parse and asserts that nothing ever connects.
func TestNoOutboundConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	url := "http://" + ln.Addr().String() + "/x"
	inputs := []string{
		fmt.Sprintf(`<!DOCTYPE r [<!ENTITY %% p SYSTEM "%s.dtd"> %%p;]><r/>`, url),
		fmt.Sprintf(`<!DOCTYPE r [<!ENTITY x SYSTEM "%s">]><r>&x;</r>`, url),
		fmt.Sprintf(`<!DOCTYPE r SYSTEM "%s.dtd"><r/>`, url),
		fmt.Sprintf(`<!DOCTYPE r PUBLIC "-//X//Y//EN" "%s.dtd"><r a="&x;"/>`, url),
		fmt.Sprintf(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY %% a SYSTEM "%s"><!ENTITY %% b "<!ENTITY c SYSTEM '%s?%%a;'>">%%b;]><r>&c;</r>`, url, url),
		fmt.Sprintf(`<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="%s"/></r>`, url),
	}
	for i, in := range inputs {
		wantDTD := i < len(inputs)-1 // XInclude is plain markup: accepted, never processed
		for _, lim := range []Limits{DocumentLimits(), EnvelopeLimits()} {
			cerr := Check([]byte(in), lim)
			_, perr := Parse([]byte(in), lim)
			for _, err := range []error{cerr, perr} {
				var e *Error
				if wantDTD && (!errors.As(err, &e) || e.Reason != ReasonDTD) {
					t.Errorf("input %d: want a dtd rejection, got %v", i, err)
				}
				if !wantDTD && err != nil {
					t.Errorf("input %d: %v", i, err)
				}
			}
		}
	}

	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			accepted <- struct{}{}
		}
	}()
	select {
	case <-accepted:
		t.Fatal("the gate or etree connected to the loopback listener")
	case <-time.After(300 * time.Millisecond):
	}

	// Control: the listener does report a connection, so the silence above means something.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("control connection not seen: the listener check is broken")
	}
}
