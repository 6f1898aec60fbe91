"""Operations on a site: check, drill, tour, catch-up, bench, sample packages, wheelhouse."""
