package models

import "gorm.io/gorm/clause"

// lockingClause is SELECT ... FOR UPDATE (MySQL only; SQLite serialises
// writers with immediate transactions instead).
func lockingClause() clause.Expression { return clause.Locking{Strength: clause.LockingStrengthUpdate} }
