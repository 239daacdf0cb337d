// Package jurisdiction loads and queries the tree of jurisdictions that
// every signal, case and subject in Fengqiao belongs to, and to whose
// subtrees queries are scoped.
//
// The tree runs from a city through counties and districts, townships and
// streets, and villages and communities down to grids; see Tier. Unit codes
// follow the shape of the 12-digit statistical division code: two province
// digits, two city digits, two county digits, three township digits and
// three village digits. A grid adds a three-digit suffix to its village's
// code, giving 15 digits. A unit's code begins with the digits that identify
// its parent, and a unit may sit more than one tier below its parent, as a
// township does directly under a city that has no counties.
//
// A tree is loaded from a YAML file with a top-level version and a flat
// list of units:
//
//	version: "1"
//	units:
//	  - code: "990100000000"
//	    name: 青川市
//	    tier: city
//	    parent: ""
//	    contacts:
//	      - name: 周建国
//	        title: 值班员
//	        phone: "13900000001"
//
// Loading is strict: unknown fields are rejected, and every problem in the
// file is reported at once in a *LoadError, each with its file and line.
// Contact details such as phone numbers never appear in error messages.
//
// A loaded Tree is immutable and safe for concurrent use.
package jurisdiction
