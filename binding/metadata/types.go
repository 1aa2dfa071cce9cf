package metadata

import "encoding/xml"

// NS is the DSS-X metadata namespace (DSS-MD v1.0 CS02.1).
const NS = "http://docs.oasis-open.org/dss-x/ns/metadata"

// nsXML is the namespace of xml:lang.
const nsXML = "http://www.w3.org/XML/1998/namespace"

// The types below follow oasis-dss-metadata-schema.xsd element by element, in schema order;
// the json names are those of oasis-dss-metadata-schema.json (which spells the description
// list "description" on Provider, Protocol and Profile and "desc" on Operation and
// Parameter).

// Provider is md:Provider.
type Provider struct {
	XMLName     xml.Name    `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Provider" json:"-"`
	Name        string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Name" json:"name"`
	Logo        string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Logo" json:"logo"`
	Region      string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Region" json:"region"`
	Languages   []string    `xml:"http://docs.oasis-open.org/dss-x/ns/metadata SupportedLanguage" json:"lang,omitempty"`
	Description []IntString `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Description" json:"description,omitempty"`
	AuthInfo    string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata AuthInfo,omitempty" json:"authinfo,omitempty"`
	Protocols   []Protocol  `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Protocol" json:"protocol"`
	Extensions  []Extension `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Extension" json:"ext,omitempty"`
}

// IntString is dsb:InternationalStringType: text with a required xml:lang.
type IntString struct {
	Lang  string `xml:"http://www.w3.org/XML/1998/namespace lang,attr" json:"lang"`
	Value string `xml:",chardata" json:"value"`
}

// Protocol is md:Protocol.
type Protocol struct {
	Specifications []string    `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Specification" json:"spec,omitempty"`
	Version        string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Version,omitempty" json:"version,omitempty"`
	Description    []IntString `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Description" json:"description,omitempty"`
	Profiles       []Profile   `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Profile" json:"profile"`
	Extensions     []Extension `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Extension" json:"ext,omitempty"`
}

// Profile is md:Profile.
type Profile struct {
	Identifier     string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata ProfileIdentifier" json:"pid"`
	Specifications []string    `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Specification" json:"spec,omitempty"`
	Description    []IntString `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Description" json:"description,omitempty"`
	Operations     []Operation `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Operation" json:"op"`
	Extensions     []Extension `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Extension" json:"ext,omitempty"`
}

// Operation is md:Operation.
type Operation struct {
	Name          string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Name" json:"name"`
	Specification string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Specification,omitempty" json:"spec,omitempty"`
	Description   []IntString `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Description" json:"desc,omitempty"`
	Inputs        []Parameter `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Input" json:"in,omitempty"`
	Options       []Parameter `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Option" json:"opt,omitempty"`
	Outputs       []Parameter `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Output" json:"out,omitempty"`
	Schema        string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Schema,omitempty" json:"xsd,omitempty"`
	Extensions    []Extension `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Extension" json:"ext,omitempty"`
}

// Parameter is md:ParameterType (an Input, Option or Output).
type Parameter struct {
	Name          string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Name" json:"name"`
	Specification string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Specification,omitempty" json:"spec,omitempty"`
	Description   []IntString `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Description" json:"desc,omitempty"`
	Formats       []Format    `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Format" json:"form,omitempty"`
	Extensions    []Extension `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Extension" json:"ext,omitempty"`
}

// Format is md:FormatType: one accepted value of a parameter.
type Format struct {
	ID          string      `xml:"http://docs.oasis-open.org/dss-x/ns/metadata FormatID" json:"fid"`
	Description []IntString `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Description" json:"desc,omitempty"`
	IsDefault   bool        `xml:"IsDefault,attr,omitempty" json:"def,omitempty"`
}

// Extension is md:Extension: a name and a value.
type Extension struct {
	Name  string `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Name" json:"name"`
	Value string `xml:"http://docs.oasis-open.org/dss-x/ns/metadata Value" json:"value"`
}

// jsonDoc is the root object of oasis-dss-metadata-schema.json.
type jsonDoc struct {
	Service *Provider `json:"service"`
}
