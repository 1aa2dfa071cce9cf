// Package positive fills in the defaults of limits and durations that were not set.
package positive

// Or sets *p to def when it is zero or negative: a limit not set (or set to a meaningless
// negative value) takes its default.
func Or[T ~int | ~int64](p *T, def T) {
	if *p <= 0 {
		*p = def
	}
}
