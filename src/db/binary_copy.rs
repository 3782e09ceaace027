//! PostgreSQL's binary `COPY` format, with each value encoded by `postgres-types` (`ToSql`): the
//! way bulk loads (CSV import, seeding) write many rows in one round trip.

use bytes::{BufMut, BytesMut};
use postgres_types::{IsNull, ToSql, Type};
use sqlx::PgConnection;

/// Rows in the binary `COPY` format, built in memory, then sent with [`BinaryCopy::send`].
pub struct BinaryCopy {
    types: Vec<Type>,
    buf: BytesMut,
    rows: u64,
}

impl BinaryCopy {
    /// Rows whose columns have these types, in order.
    pub fn new(types: Vec<Type>) -> BinaryCopy {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        buf.put_slice(b"PGCOPY\n\xff\r\n\0");
        buf.put_i32(0); // flags
        buf.put_i32(0); // header extension length
        BinaryCopy {
            types,
            buf,
            rows: 0,
        }
    }

    /// Appends one row; `values` has one value per column, of the column's type.
    pub fn row(&mut self, values: &[&(dyn ToSql + Sync)]) -> anyhow::Result<()> {
        anyhow::ensure!(
            values.len() == self.types.len(),
            "a COPY row has {} values for {} columns",
            values.len(),
            self.types.len()
        );
        self.buf.put_i16(i16::try_from(values.len())?);
        for (value, ty) in values.iter().zip(&self.types) {
            let at = self.buf.len();
            self.buf.put_i32(0);
            match value
                .to_sql_checked(ty, &mut self.buf)
                .map_err(|e| anyhow::anyhow!("encoding a {ty} for COPY: {e}"))?
            {
                IsNull::Yes => {
                    self.buf.truncate(at);
                    self.buf.put_i32(-1);
                }
                IsNull::No => {
                    let len = i32::try_from(self.buf.len() - at - 4)?;
                    self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Sends the rows with `statement` (`COPY table (columns) FROM STDIN (FORMAT binary)`);
    /// returns how many rows PostgreSQL took.
    pub async fn send(mut self, conn: &mut PgConnection, statement: &str) -> anyhow::Result<u64> {
        self.buf.put_i16(-1);
        let mut copy = conn.copy_in_raw(statement).await?;
        copy.send(self.buf.freeze()).await?;
        let taken = copy.finish().await?;
        anyhow::ensure!(
            taken == self.rows,
            "COPY took {taken} of {} rows",
            self.rows
        );
        Ok(taken)
    }
}
