//go:build cgo && !nopkcs11

package pkcs11

// Rebuilds returns how many times the backend has rebuilt its crypto11 context after a device
// failure (exported as dssd_hsm_rebuilds_total by dss/metrics).
func (km *KeyManager) Rebuilds() uint64 {
	km.mu.Lock()
	defer km.mu.Unlock()
	return uint64(km.rebuilds)
}
