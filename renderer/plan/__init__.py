"""Plans: what apply would change, as data first; text (and later markdown, JSON) render the same model."""
