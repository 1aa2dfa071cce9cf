// Package schemas embeds the XML schemas and the WSDL that dssd serves: the DSS-X 2.0 CS02
// core schemas and the DSS-X metadata schema (OASIS, unmodified; provenance in SOURCES.md),
// the project schema dssd-pending.xsd (global dss2:PendingRequest) and the WSDL dssd.wsdl.
package schemas

import "embed"

// File names in FS.
const (
	CoreXSD     = "oasis-dss-core-schema-v2.0.xsd"
	PendingXSD  = "dssd-pending.xsd"
	MetadataXSD = "oasis-dss-metadata-schema.xsd"
	WSDL        = "dssd.wsdl"
)

// FS holds every schema file and the WSDL at its root.
//
//go:embed *.xsd dssd.wsdl
var FS embed.FS
