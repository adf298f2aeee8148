// Server-side prepared statements through libmariadb's mysql_stmt_* API, for the L7 MySQL
// recordings (COM_STMT_PREPARE / COM_STMT_EXECUTE / COM_STMT_RESET / COM_STMT_CLOSE, plus
// COM_INIT_DB, COM_PING and COM_QUIT), without TLS so that the protocol is visible.
//   gcc -O2 -o mysql_stmt mysql_stmt.c $(mariadb_config --cflags --libs)   (or -lmariadb)
//   mysql_stmt PORT DB
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(MYSQL *db, const char *what) {
  fprintf(stderr, "mysql_stmt: %s: %s\n", what, mysql_error(db));
  exit(1);
}

static MYSQL_STMT *prepare(MYSQL *db, const char *sql) {
  MYSQL_STMT *st = mysql_stmt_init(db);
  if (st == NULL) die(db, "stmt_init");
  if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
    fprintf(stderr, "mysql_stmt: prepare failed as expected? %u %s\n", mysql_stmt_errno(st),
            mysql_stmt_error(st));
    mysql_stmt_close(st);
    return NULL;
  }
  return st;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: mysql_stmt PORT DB\n");
    return 2;
  }
  MYSQL *db = mysql_init(NULL);
  my_bool off = 0;
  mysql_optionsv(db, MYSQL_OPT_SSL_ENFORCE, &off);
  mysql_optionsv(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
  if (mysql_real_connect(db, "127.0.0.1", "root", "", NULL, (unsigned)atoi(argv[1]), NULL, 0) ==
      NULL)
    die(db, "connect");
  if (mysql_select_db(db, argv[2]) != 0) die(db, "select_db");  // COM_INIT_DB

  MYSQL_STMT *ins = prepare(db, "INSERT INTO items (id, name) VALUES (?, ?)");
  if (ins == NULL) die(db, "prepare insert");
  long long id = 0;
  char name[32];
  unsigned long name_len = 0;
  MYSQL_BIND in[2];
  memset(in, 0, sizeof(in));
  in[0].buffer_type = MYSQL_TYPE_LONGLONG;
  in[0].buffer = &id;
  in[1].buffer_type = MYSQL_TYPE_STRING;
  in[1].buffer = name;
  in[1].length = &name_len;
  if (mysql_stmt_bind_param(ins, in) != 0) die(db, "bind insert");
  for (int i = 0; i < 2; i++) {
    id = 100 + i;
    name_len = (unsigned long)snprintf(name, sizeof(name), "stmt-item-%d", i);
    if (mysql_stmt_execute(ins) != 0) die(db, "execute insert");  // COM_STMT_EXECUTE
  }
  mysql_stmt_close(ins);  // COM_STMT_CLOSE (no response)

  MYSQL_STMT *sel = prepare(db, "SELECT id, name FROM items WHERE id >= ? ORDER BY id");
  if (sel == NULL) die(db, "prepare select");
  long long min_id = 2;
  MYSQL_BIND p[1];
  memset(p, 0, sizeof(p));
  p[0].buffer_type = MYSQL_TYPE_LONGLONG;
  p[0].buffer = &min_id;
  if (mysql_stmt_bind_param(sel, p) != 0) die(db, "bind select");
  long long out_id = 0;
  char out_name[64];
  unsigned long out_len = 0;
  MYSQL_BIND r[2];
  memset(r, 0, sizeof(r));
  r[0].buffer_type = MYSQL_TYPE_LONGLONG;
  r[0].buffer = &out_id;
  r[1].buffer_type = MYSQL_TYPE_STRING;
  r[1].buffer = out_name;
  r[1].buffer_length = sizeof(out_name);
  r[1].length = &out_len;
  if (mysql_stmt_execute(sel) != 0) die(db, "execute select");
  if (mysql_stmt_bind_result(sel, r) != 0) die(db, "bind result");
  if (mysql_stmt_store_result(sel) != 0) die(db, "store result");
  int rows = 0;
  while (mysql_stmt_fetch(sel) == 0) rows++;
  printf("select: %d rows\n", rows);
  if (mysql_stmt_reset(sel) != 0) die(db, "reset");  // COM_STMT_RESET
  mysql_stmt_close(sel);

  // A statement the server refuses to prepare: error 1146 (unknown table).
  if (prepare(db, "SELECT * FROM no_such_table WHERE id = ?") != NULL)
    die(db, "prepare of a missing table succeeded");
  if (mysql_ping(db) != 0) die(db, "ping");  // COM_PING
  mysql_close(db);                           // COM_QUIT
  return 0;
}
