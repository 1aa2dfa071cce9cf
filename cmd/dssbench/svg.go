package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// chartSVG draws signing rate (log scale) against concurrency (log2 scale): the service and
// raw PKCS#11 per key type as lines, the peers as horizontal reference lines.
func chartSVG(r *Report) string {
	const (
		width, height            = 960, 660
		left, right, top, bottom = 80, 190, 70, 130
	)
	pw, ph := float64(width-left-right), float64(height-top-bottom)

	conc := slices.Clone(r.Settings.Concurrency)
	slices.Sort(conc)
	if len(conc) == 0 {
		conc = []int{1}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(v float64) {
		if v > 0 {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	for _, p := range r.Raw {
		see(p.Rate)
	}
	for _, p := range r.RawGuarded {
		see(p.Rate)
	}
	for _, p := range r.E2E {
		see(p.Rate)
	}
	for _, p := range r.Peers {
		see(p.Rate)
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	yMin := math.Pow(10, math.Floor(math.Log10(lo)))
	yMax := math.Pow(10, math.Ceil(math.Log10(hi)))
	if yMax <= yMin {
		yMax = yMin * 10
	}
	x := func(c int) float64 {
		a, b := math.Log2(float64(conc[0])), math.Log2(float64(conc[len(conc)-1]))
		if b == a {
			return float64(left) + pw/2
		}
		return float64(left) + (math.Log2(float64(c))-a)/(b-a)*pw
	}
	y := func(v float64) float64 {
		v = math.Max(v, yMin)
		return float64(top) + ph - (math.Log10(v)-math.Log10(yMin))/(math.Log10(yMax)-math.Log10(yMin))*ph
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="17" font-weight="bold">dssd signing rate against concurrency (XAdES B-B enveloped, %d-byte document)</text>`+"\n", left, r.Settings.DocumentBytes)
	fmt.Fprintf(&b, `<text x="%d" y="48" fill="#555">%s · %d CPUs, service + load + peers on one machine: compare within this run only</text>`+"\n",
		left, esc(r.Started.Format("2006-01-02 15:04 MST")), r.Machine.CPUs)

	// Grid and axes.
	for d := yMin; d <= yMax*1.0001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := d * m
			if v > yMax*1.0001 {
				break
			}
			yy := y(v)
			stroke, dash := "#ddd", ` stroke-dasharray="2,3"`
			if m == 1 {
				stroke, dash = "#bbb", ""
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"%s/>`+"\n", left, yy, float64(left)+pw, yy, stroke, dash)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#444">%s</text>`+"\n", left-6, yy+4, fmtRate(v))
		}
	}
	for _, c := range conc {
		xx := x(c)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", xx, top, xx, float64(top)+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">%d</text>`+"\n", xx, float64(top)+ph+18, c)
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">concurrency (parallel requests or signing goroutines)</text>`+"\n", float64(left)+pw/2, float64(top)+ph+40)
	fmt.Fprintf(&b, `<text transform="translate(22 %.1f) rotate(-90)" text-anchor="middle">signatures per second (log scale)</text>`+"\n", float64(top)+ph/2)

	// Peers: horizontal reference lines, labelled on the right.
	peerColors := []string{"#7b3294", "#008837", "#a6611a", "#525252", "#c51b7d"}
	type label struct {
		y     float64
		text  string
		color string
	}
	var labels []label
	for i, p := range r.Peers {
		if p.Rate <= 0 {
			continue
		}
		col := peerColors[i%len(peerColors)]
		yy := y(p.Rate)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="8,4,2,4"/>`+"\n", left, yy, float64(left)+pw, yy, col)
		labels = append(labels, label{yy + 4, p.Name + " " + fmtRate(p.Rate) + "/s", col})
	}
	// Keep the labels at least one line apart, top to bottom.
	slices.SortFunc(labels, func(a, b label) int { return int(a.y - b.y) })
	for i := 1; i < len(labels); i++ {
		labels[i].y = math.Max(labels[i].y, labels[i-1].y+14)
	}
	for _, l := range labels {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`+"\n", float64(left)+pw+6, l.y, l.color, esc(l.text))
	}

	// Lines: service (solid) and raw PKCS#11 (dashed), guarded (dotted).
	type series struct {
		label, color, dash string
		width              float64
		pts                map[int]float64
		below              bool // value labels under the points (the second key type, so that close lines stay readable)
	}
	var all []series
	colors := map[string]string{"RSA-2048": "#1f77b4", "EC-P256": "#d62728"}
	for ki, k := range benchKeys {
		col := colors[k.name]
		e2e, raw, g := map[int]float64{}, map[int]float64{}, map[int]float64{}
		for _, p := range r.E2E {
			if p.Key == k.name {
				e2e[p.Concurrency] = p.Rate
			}
		}
		for _, p := range r.Raw {
			if p.Key == k.name {
				raw[p.Concurrency] = p.Rate
			}
		}
		for _, p := range r.RawGuarded {
			if p.Key == k.name {
				g[p.Concurrency] = p.Rate
			}
		}
		all = append(all,
			series{"dssd end to end " + k.name, col, "", 3, e2e, ki == 1},
			series{"raw PKCS#11 " + k.name, col, "7,5", 2, raw, false},
			series{"PKCS#11 + hsm.Guard " + k.name, col, "2,4", 1.5, g, false})
	}
	for _, s := range all {
		var pts []string
		for _, c := range conc {
			if v, ok := s.pts[c]; ok && v > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(c), y(v)))
			}
		}
		if len(pts) == 0 {
			continue
		}
		dash := ""
		if s.dash != "" {
			dash = ` stroke-dasharray="` + s.dash + `"`
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s/>`+"\n", strings.Join(pts, " "), s.color, s.width, dash)
		for _, c := range conc {
			v, ok := s.pts[c]
			if !ok || v <= 0 {
				continue
			}
			anchor, dx := "middle", 0.0
			switch c {
			case conc[0]:
				anchor, dx = "start", 6
			case conc[len(conc)-1]:
				anchor, dx = "end", -6
			}
			if s.dash == "" {
				dy := -9.0
				if s.below {
					dy = 19
				}
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`+"\n", x(c), y(v), s.color)
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="%s" font-weight="bold">%s</text>`+"\n", x(c)+dx, y(v)+dy, anchor, s.color, fmtRate(v))
			} else if s.width >= 2 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="%s">%s</text>`+"\n", x(c)+dx, y(v)-7, anchor, s.color, fmtRate(v))
			}
		}
	}

	// Legend, below the plot: one column per key type, peers explained on the right.
	ly := float64(top) + ph + 62
	for i, sr := range all {
		col, row := i/3, i%3
		lx := float64(left) + float64(col)*260
		yy := ly + float64(row)*18
		dash := ""
		if sr.dash != "" {
			dash = ` stroke-dasharray="` + sr.dash + `"`
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n", lx, yy-4, lx+30, yy-4, sr.color, sr.width, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11">%s</text>`+"\n", lx+36, yy, esc(sr.label))
	}
	px := float64(left) + 2*260
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" stroke-width="1.5" stroke-dasharray="8,4,2,4"/>`+"\n", px, ly-4, px+30, ly-4)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11">peer, one thread in its own process</text>`+"\n", px+36, ly)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#555">(software RSA-2048 key; labelled on the right)</text>`+"\n", px+36, ly+18)
	b.WriteString("</svg>\n")
	return b.String()
}

func fmtRate(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
