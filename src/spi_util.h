/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *	  Small shared helpers around SPI.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_SPI_UTIL_H
#define STEWARD_SPI_UTIL_H

#include "postgres.h"

/* Run one parameterised statement; error out unless SPI returns 'expected'. */
extern int	steward_spi_exec(const char *sql, int expected, int nargs,
							 Oid *argtypes, Datum *values, const char *nulls);

/* Helpers to read column 'col' (1-based) of row 'row' of SPI_tuptable. */
extern Datum steward_spi_getdatum(int row, int col, bool *isnull);
extern char *steward_spi_gettext(int row, int col);

#endif							/* STEWARD_SPI_UTIL_H */
