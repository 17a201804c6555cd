package db

// ErrIdentityRace lets tests name the race of two transactions over a
// contact's identities.
var ErrIdentityRace = errIdentityRace
