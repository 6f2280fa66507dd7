/*
 * The ACL check of secret files on Windows; see platform_acl.h.
 *
 * Win32 APIs: GetNamedSecurityInfoW and GetSecurityInfo (aclapi.h), GetAclInformation,
 * GetAce, CreateWellKnownSid, EqualSid, and the ACE layouts of
 * ACCESS_ALLOWED_ACE and ACCESS_DENIED_ACE (winnt.h). The well-known SIDs
 * are those of the Microsoft "Well-known SIDs" list.
 *
 * Privileges: READ_CONTROL on the checked file.
 */
#ifdef _WIN32

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include "platform_acl.h"
#include "platform_wide.h"
#include "tern_error.h"

/* The rights that let a group read the secret, change it, or give
 * itself either. */
#define SECRET_RIGHTS (FILE_READ_DATA | FILE_WRITE_DATA | FILE_APPEND_DATA | \
    WRITE_DAC | WRITE_OWNER)

struct broad_group {
	WELL_KNOWN_SID_TYPE type;
	const char *name;          /* as Windows displays it, in English */
	const char *sid_string;    /* for icacls, which accepts *SID */
};

/* Everyone comes first: its deny ACEs apply to the other groups too. */
static const struct broad_group broad_groups[] = {
	{ WinWorldSid, "Everyone", "S-1-1-0" },
	{ WinBuiltinUsersSid, "Users", "S-1-5-32-545" },
	{ WinAuthenticatedUserSid, "Authenticated Users", "S-1-5-11" },
	{ WinBuiltinGuestsSid, "Guests", "S-1-5-32-546" },
	{ WinAnonymousSid, "ANONYMOUS LOGON", "S-1-5-7" },
	{ WinInteractiveSid, "INTERACTIVE", "S-1-5-4" },
};

#define BROAD_GROUP_COUNT (sizeof(broad_groups) / sizeof(broad_groups[0]))

/* Replaces the generic rights in mask by the file rights they stand for. */
static ACCESS_MASK
map_generic(ACCESS_MASK mask)
{
	GENERIC_MAPPING mapping = {
		FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE,
		FILE_ALL_ACCESS,
	};

	MapGenericMask(&mask, &mapping);
	return mask;
}

/* Returns the index in broad_groups of sid, or -1. */
static int
find_broad_group(PSID sid, BYTE sids[][SECURITY_MAX_SID_SIZE])
{
	size_t i;

	for (i = 0; i < BROAD_GROUP_COUNT; i++) {
		if (EqualSid(sid, (PSID)sids[i]))
			return (int)i;
	}
	return -1;
}

static const char *
describe_rights(ACCESS_MASK rights)
{
	if ((rights & FILE_READ_DATA) != 0 &&
	    (rights & (FILE_WRITE_DATA | FILE_APPEND_DATA)) != 0)
		return "read and write";
	if ((rights & FILE_READ_DATA) != 0)
		return "read";
	if ((rights & (FILE_WRITE_DATA | FILE_APPEND_DATA)) != 0)
		return "write";
	return "change the permissions of";
}

int
platform_acl_check_dacl(const ACL *dacl, const char *path, char *err,
    size_t err_size)
{
	BYTE sids[BROAD_GROUP_COUNT][SECURITY_MAX_SID_SIZE];
	ACCESS_MASK denied[BROAD_GROUP_COUNT];
	ACL_SIZE_INFORMATION info;
	DWORD i, size;
	size_t g;

	if (dacl == NULL) {
		snprintf(err, err_size, "%s: has no access control list (a "
		    "NULL DACL), so everyone may read and write this secret "
		    "file; run icacls \"%s\" /inheritance:r /grant:r "
		    "*S-1-5-32-544:F *S-1-5-18:F", path, path);
		return TERN_EPERM;
	}
	for (g = 0; g < BROAD_GROUP_COUNT; g++) {
		size = SECURITY_MAX_SID_SIZE;
		if (!CreateWellKnownSid(broad_groups[g].type, NULL,
		    (PSID)sids[g], &size)) {
			snprintf(err, err_size, "%s: cannot check the access "
			    "control list: CreateWellKnownSid failed with "
			    "error %lu", path, (unsigned long)GetLastError());
			return TERN_EIO;
		}
		denied[g] = 0;
	}
	if (!GetAclInformation((PACL)dacl, &info, sizeof(info),
	    AclSizeInformation)) {
		snprintf(err, err_size, "%s: cannot read the access control "
		    "list: GetAclInformation failed with error %lu", path,
		    (unsigned long)GetLastError());
		return TERN_EIO;
	}
	for (i = 0; i < info.AceCount; i++) {
		ACE_HEADER *header;
		ACCESS_MASK mask, granted;
		PSID sid;
		int found;

		if (!GetAce((PACL)dacl, i, (LPVOID *)&header))
			continue;
		if ((header->AceFlags & INHERIT_ONLY_ACE) != 0)
			continue;
		if (header->AceType == ACCESS_DENIED_ACE_TYPE) {
			ACCESS_DENIED_ACE *ace = (ACCESS_DENIED_ACE *)header;

			sid = (PSID)&ace->SidStart;
			found = find_broad_group(sid, sids);
			if (found >= 0)
				denied[found] |= map_generic(ace->Mask);
			continue;
		}
		if (header->AceType != ACCESS_ALLOWED_ACE_TYPE)
			continue;
		{
			ACCESS_ALLOWED_ACE *ace = (ACCESS_ALLOWED_ACE *)header;

			sid = (PSID)&ace->SidStart;
			mask = map_generic(ace->Mask);
		}
		found = find_broad_group(sid, sids);
		if (found < 0)
			continue;
		/* Every member of these groups is also in Everyone. */
		granted = mask & SECRET_RIGHTS & ~denied[found] & ~denied[0];
		if (granted == 0)
			continue;
		snprintf(err, err_size, "%s: the group %s may %s this secret "
		    "file (an allow entry in its access control list); run "
		    "icacls \"%s\" /inheritance:d and then icacls \"%s\" "
		    "/remove:g *%s", path, broad_groups[found].name,
		    describe_rights(granted), path, path,
		    broad_groups[found].sid_string);
		return TERN_EPERM;
	}
	return TERN_OK;
}

/* Evaluates the DACL that api (GetNamedSecurityInfoW or GetSecurityInfo)
 * returned with status rc, then frees its security descriptor sd.
 * Returns TERN_EIO naming api when rc is an error. */
static int
check_read_dacl(DWORD rc, const char *api, const ACL *dacl,
    PSECURITY_DESCRIPTOR sd, const char *path, char *err, size_t err_size)
{
	int result;

	if (rc != ERROR_SUCCESS) {
		snprintf(err, err_size, "%s: cannot read the access control "
		    "list: %s failed with error %lu", path, api,
		    (unsigned long)rc);
		return TERN_EIO;
	}
	result = platform_acl_check_dacl(dacl, path, err, err_size);
	LocalFree(sd);
	return result;
}

int
platform_acl_check_file(const char *path, char *err, size_t err_size)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PACL dacl = NULL;
	WCHAR *wide;
	DWORD rc;

	wide = platform_utf8_to_wide(path);
	if (wide == NULL) {
		snprintf(err, err_size, "%s: invalid UTF-8 in the path, or out "
		    "of memory", path);
		return TERN_EIO;
	}
	rc = GetNamedSecurityInfoW(wide, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL, &sd);
	free(wide);
	return check_read_dacl(rc, "GetNamedSecurityInfoW", dacl, sd, path,
	    err, err_size);
}

int
platform_acl_check_handle(HANDLE handle, const char *path, char *err,
    size_t err_size)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PACL dacl = NULL;
	DWORD rc;

	rc = GetSecurityInfo(handle, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL, &sd);
	return check_read_dacl(rc, "GetSecurityInfo", dacl, sd, path, err,
	    err_size);
}

#endif
